using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Training;

namespace MtkdRl.Teachers;

/// <summary>
/// A segmentation network on disk, in the same two files as <see cref="Checkpoint"/> (NAME.safetensors with the
/// tensors under their layer names, NAME.json with the <see cref="CheckpointConfig"/>; classes counts the C+1
/// logits per pixel, test_accuracy holds the test mIoU). No optimiser state: a segmentation teacher is trained
/// in one go.
/// </summary>
public static class SegmentationCheckpoint
{
    public static CheckpointConfig Save(string basePath, SegmentationModel model, CheckpointConfig config)
    {
        basePath = Checkpoint.BasePath(basePath);
        var builder = new SafeTensors.Builder();
        builder.Metadata["format"] = "mtkd-checkpoint";
        builder.Metadata["spec"] = model.Spec.ToString();
        foreach (var t in model.NamedTensors) builder.Add(t.Name, t.Value, [.. t.Shape]);
        string weightsPath = basePath + Checkpoint.WeightsExtension;
        string hash = Checkpoint.WriteTensors(builder, weightsPath);
        var written = config with
        {
            FormatVersion = CheckpointConfig.CurrentFormat,
            Spec = model.Spec.ToString(),
            InputShape = [model.InputShape.Channels, model.InputShape.Height, model.InputShape.Width],
            Classes = model.Classes,
            WeightsFile = Path.GetFileName(weightsPath),
            WeightsSha256 = hash,
        };
        JsonFiles.Write(basePath + Checkpoint.ConfigExtension, written);
        return written;
    }

    /// <summary>Loads NAME(.json|.safetensors): the spec must be a segmentation one, every tensor must match it, the hash the config's.</summary>
    public static (SegmentationModel Model, CheckpointConfig Config) Load(string path, CpuCompute compute)
    {
        string configPath = Checkpoint.ConfigPathOf(path);
        var config = Checkpoint.ReadConfig(configPath);
        var spec = ModelSpec.Parse(config.Spec, $"{configPath}: model");
        if (!spec.IsSegmentation) throw new MtkdInputException($"{configPath}: model {spec} is a classifier, not a segmentation network");
        var model = spec.BuildSegmentation(new SampleShape(config.InputShape[0], config.InputShape[1], config.InputShape[2]), config.Classes, compute, new Rng(1));
        string weightsPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(configPath))!, config.WeightsFile);
        if (!File.Exists(weightsPath)) throw new MtkdInputException($"{weightsPath}: no such file (the weights of {configPath})");
        string actual = FileHash.Sha256(weightsPath);
        if (!string.IsNullOrEmpty(config.WeightsSha256) && actual != config.WeightsSha256)
            throw new MtkdInputException($"{weightsPath}: its SHA-256 differs from {configPath}'s (weights and config come from different saves)");
        var file = SafeTensors.File.Read(weightsPath);
        var names = model.NamedTensors.Select(t => t.Name).ToHashSet();
        string? extra = file.Tensors.Select(t => t.Name).FirstOrDefault(n => !names.Contains(n));
        if (extra is not null) throw new MtkdInputException($"{weightsPath}: tensor '{extra}' is not part of model {spec}");
        foreach (var tensor in model.NamedTensors)
        {
            var info = file.Tensors.FirstOrDefault(t => t.Name == tensor.Name)
                ?? throw new MtkdInputException($"{weightsPath}: tensor '{tensor.Name}' is missing (model {spec} needs it)");
            Checkpoint.CheckTensor(weightsPath, info, tensor.Shape, $"model {spec} expects");
            file.ReadSingle(tensor.Name).CopyTo(tensor.Value, 0);
        }
        return (model, config);
    }
}
