using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Data.Batching;
using MtkdRl.Training;

namespace MtkdRl.Teachers;

/// <summary>A checkpoint read back: the rebuilt model with its weights, its config, and the optimiser state when one was saved.</summary>
public sealed class LoadedCheckpoint
{
    internal LoadedCheckpoint(string configPath, string weightsPath, CheckpointConfig config, Model model, OptimizerState? optimizer)
    {
        ConfigPath = configPath;
        WeightsPath = weightsPath;
        Config = config;
        Model = model;
        OptimizerState = optimizer;
    }

    public string ConfigPath { get; }
    public string WeightsPath { get; }
    public CheckpointConfig Config { get; }
    public Model Model { get; }
    public OptimizerState? OptimizerState { get; }
    public ChannelNormalization Normalization => Config.Normalization.ToChannelNormalization();
}

/// <summary>
/// A model on disk as two files: <c>NAME.safetensors</c> holds the parameters and buffers under their model
/// names (PyTorch's names and layouts) and the optimiser's per-parameter state under "optimizer.{name}";
/// <c>NAME.json</c> holds the <see cref="CheckpointConfig"/>. The weights are written first, then the config
/// that names their hash, each atomically, so a crash between the two leaves a config that refuses the
/// newer weights rather than a mixed checkpoint that loads.
/// </summary>
public static class Checkpoint
{
    public const string OptimizerPrefix = "optimizer.";
    public const string WeightsExtension = ".safetensors";
    public const string ConfigExtension = ".json";

    /// <summary>The path without .json or .safetensors: NAME in NAME.json / NAME.safetensors.</summary>
    public static string BasePath(string path)
    {
        if (path.EndsWith(ConfigExtension, StringComparison.OrdinalIgnoreCase)) return path[..^ConfigExtension.Length];
        if (path.EndsWith(WeightsExtension, StringComparison.OrdinalIgnoreCase)) return path[..^WeightsExtension.Length];
        return path;
    }

    public static string ConfigPathOf(string path) => BasePath(path) + ConfigExtension;

    public static string WeightsPathOf(string path) => BasePath(path) + WeightsExtension;

    /// <summary>BASE.metrics.jsonl: the epoch lines a pool's trainer writes beside a teacher's checkpoint.</summary>
    public static string MetricsPathOf(string path) => BasePath(path) + ".metrics.jsonl";

    /// <summary>
    /// Writes the model's tensors (and <paramref name="optimizer"/>'s state, when given) to BASE.safetensors and
    /// <paramref name="config"/>, completed with the weights file's name and hash, the optimiser's scalars and
    /// the model's random streams, to BASE.json. Returns the config as written.
    /// </summary>
    public static CheckpointConfig Save(string basePath, Model model, CheckpointConfig config, Optimizer? optimizer = null)
    {
        basePath = BasePath(basePath);
        var builder = new SafeTensors.Builder();
        builder.Metadata["format"] = "mtkd-checkpoint";
        builder.Metadata["spec"] = model.Spec.ToString();
        foreach (var t in model.NamedTensors) builder.Add(t.Name, t.Value, [.. t.Shape]);
        OptimizerRecord? optimizerRecord = null;
        if (optimizer is not null)
        {
            var state = optimizer.ExportState();
            foreach (var t in state.Tensors) builder.Add(OptimizerPrefix + t.Name, t.Value, [.. t.Shape]);
            optimizerRecord = new OptimizerRecord(state.Kind, state.Scalars);
        }
        string weightsPath = basePath + WeightsExtension;
        string weightsHash = WriteTensors(builder, weightsPath);

        var written = config with
        {
            FormatVersion = CheckpointConfig.CurrentFormat,
            Spec = model.Spec.ToString(),
            InputShape = [model.InputShape.Channels, model.InputShape.Height, model.InputShape.Width],
            Classes = model.Classes,
            Optimizer = optimizerRecord ?? config.Optimizer,
            RandomStreams = model.RandomStreams.ToDictionary(r => r.Name, r => r.Generator.State),
            WeightsFile = Path.GetFileName(weightsPath),
            WeightsSha256 = weightsHash,
        };
        JsonFiles.Write(basePath + ConfigExtension, written);
        return written;
    }

    /// <summary>
    /// Writes a tensors file atomically and returns its SHA-256, hashed from the bytes written (not read back), for
    /// the JSON half that names it.
    /// </summary>
    public static string WriteTensors(SafeTensors.Builder builder, string path)
    {
        var buffer = new MemoryStream();
        builder.WriteTo(buffer);
        byte[] bytes = buffer.ToArray();
        AtomicFile.WriteAllBytes(path, bytes);
        return FileHash.Sha256(bytes);
    }

    /// <summary>Whether <paramref name="path"/> holds a checkpoint trained (or being trained) with <paramref name="recipe"/>.</summary>
    public static bool HoldsRecipe(string path, TrainingRecipe recipe) =>
        File.Exists(ConfigPathOf(path)) && ReadConfig(path).Recipe == recipe;

    /// <summary>Reads and validates a checkpoint's config alone (no weights).</summary>
    public static CheckpointConfig ReadConfig(string path)
    {
        string configPath = ConfigPathOf(path);
        var config = JsonFiles.Read<CheckpointConfig>(configPath, "checkpoint config");
        if (config.FormatVersion != CheckpointConfig.CurrentFormat)
            throw new MtkdInputException($"{configPath}: checkpoint format {config.FormatVersion} is not supported (this build reads format {CheckpointConfig.CurrentFormat})");
        if (string.IsNullOrEmpty(config.Spec) || string.IsNullOrEmpty(config.WeightsFile) || config.InputShape is not { Length: 3 }
            || config.Classes < 2 || config.Normalization is null || config.Dataset is null)
            throw new MtkdInputException($"{configPath}: incomplete checkpoint config (needs spec, input_shape [Ch,H,W], classes, dataset, normalization, weights_file)");
        if (config.Normalization.Mean.Length != config.InputShape[0] || config.Normalization.Std.Length != config.InputShape[0])
            throw new MtkdInputException($"{configPath}: normalization has {config.Normalization.Mean.Length} means and {config.Normalization.Std.Length} stds for {config.InputShape[0]} channels");
        if (Path.GetFileName(config.WeightsFile) != config.WeightsFile)
            throw new MtkdInputException($"{configPath}: weights_file '{config.WeightsFile}' must be a file name in the same folder");
        return config;
    }

    /// <summary>
    /// The weights file a config names, beside it: its full path and the path as errors show it. A missing file
    /// is a one-line error.
    /// </summary>
    public static (string Path, string Shown) WeightsFileOf(string configPath, CheckpointConfig config)
    {
        string weightsPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(configPath))!, config.WeightsFile);
        string shown = Path.Combine(Path.GetDirectoryName(configPath) ?? "", config.WeightsFile);
        if (!File.Exists(weightsPath)) throw new MtkdInputException($"{shown}: no such file (the weights of {configPath})");
        return (weightsPath, shown);
    }

    /// <summary>
    /// Reads the weights file <paramref name="config"/> names into <paramref name="tensors"/> (each checked by name,
    /// dtype and shape; <paramref name="owner"/> names what needs them in errors), returns the optimiser tensors
    /// stored beside them, and checks the file's hash against the config's.
    /// </summary>
    internal static List<NamedTensor> ReadTensors(string configPath, CheckpointConfig config, IEnumerable<NamedTensor> tensors, string owner)
    {
        var (weightsPath, shownWeights) = WeightsFileOf(configPath, config);
        var file = SafeTensors.File.Read(weightsPath);

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var tensor in tensors)
        {
            names.Add(tensor.Name);
            var info = file.Tensors.FirstOrDefault(t => t.Name == tensor.Name)
                ?? throw new MtkdInputException($"{shownWeights}: tensor '{tensor.Name}' is missing ({owner} needs it)");
            CheckTensor(shownWeights, info, tensor.Shape, $"{owner} expects");
            file.ReadSingle(tensor.Name).CopyTo(tensor.Value, 0);
        }
        var optimizerTensors = new List<NamedTensor>();
        foreach (var info in file.Tensors)
        {
            if (names.Contains(info.Name)) continue;
            if (!info.Name.StartsWith(OptimizerPrefix, StringComparison.Ordinal))
                throw new MtkdInputException($"{shownWeights}: tensor '{info.Name}' is not part of {owner}");
            if (config.Optimizer is null)
                throw new MtkdInputException($"{shownWeights}: tensor '{info.Name}' is optimiser state, but {configPath} names no optimiser");
            CheckTensor(shownWeights, info, info.Shape, "expected");
            var t = new NamedTensor(info.Name[OptimizerPrefix.Length..], info.Shape);
            file.ReadSingle(info.Name).CopyTo(t.Value, 0);
            optimizerTensors.Add(t);
        }

        string actualHash = FileHash.Sha256(weightsPath);
        if (!string.IsNullOrEmpty(config.WeightsSha256) && actualHash != config.WeightsSha256)
            throw new MtkdInputException(
                $"{shownWeights}: its SHA-256 {actualHash[..12]}... differs from {configPath}'s {config.WeightsSha256[..Math.Min(12, config.WeightsSha256.Length)]}... (weights and config come from different saves)");
        return optimizerTensors;
    }

    /// <summary>
    /// Loads a checkpoint from NAME.json, NAME.safetensors or NAME: rebuilds the model from the spec, checks every
    /// tensor's name, dtype and shape against it (one-line errors naming the file and the tensor), copies the
    /// values, restores the random streams, and returns the optimiser state if one was saved.
    /// </summary>
    public static LoadedCheckpoint Load(string path, CpuCompute compute)
    {
        string configPath = ConfigPathOf(path);
        var config = ReadConfig(configPath);
        TaskKinds.Require(TaskKind.Classification, TaskKinds.Parse(config.Task, configPath), configPath);
        var spec = ModelSpec.Parse(config.Spec, $"{configPath}: model");
        var input = new SampleShape(config.InputShape[0], config.InputShape[1], config.InputShape[2]);
        var model = spec.Build(input, config.Classes, compute, new Rng(1));
        string shownWeights = WeightsFileOf(configPath, config).Shown;
        var optimizerTensors = ReadTensors(configPath, config, model.NamedTensors, $"model {spec}");

        foreach (var stream in model.RandomStreams)
        {
            if (!config.RandomStreams.TryGetValue(stream.Name, out var state))
                throw new MtkdInputException($"{configPath}: random stream '{stream.Name}' of model {spec} is missing");
            try { stream.Generator.State = state; }
            catch (MtkdInputException e) { throw new MtkdInputException($"{configPath}: random stream '{stream.Name}': {e.Message}"); }
        }

        OptimizerState? optimizer = config.Optimizer is null
            ? null
            : new OptimizerState(config.Optimizer.Kind, optimizerTensors, config.Optimizer.Scalars);
        return new LoadedCheckpoint(configPath, shownWeights, config, model, optimizer);
    }

    internal static void CheckTensor(string file, SafeTensorInfo info, IReadOnlyList<int> shape, string expectation)
    {
        if (info.DType != SafeTensorDType.F32)
            throw new MtkdInputException($"{file}: tensor '{info.Name}' is {info.DType}, expected F32");
        if (!info.Shape.SequenceEqual(shape))
            throw new MtkdInputException($"{file}: tensor '{info.Name}' has shape {info.ShapeText}, {expectation} [{string.Join(',', shape)}]");
    }
}
