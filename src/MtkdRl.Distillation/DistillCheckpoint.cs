using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Strategies;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>state.json: where a distillation run stands, beside state.safetensors (heads, optimiser, strategy arrays).</summary>
public sealed record DistillState
{
    public const int CurrentFormat = 1;
    public int FormatVersion { get; init; } = CurrentFormat;
    public DistillRecipe Recipe { get; init; } = new();
    public string DatasetFingerprint { get; init; } = "";
    public string PoolFingerprint { get; init; } = "";
    public int Epoch { get; init; }
    public long Step { get; init; }
    public LoaderRecord? Loader { get; init; }
    public OptimizerRecord? Optimizer { get; init; }
    public string StrategyName { get; init; } = "";
    public Dictionary<string, double> StrategyScalars { get; init; } = [];
    public ulong[]? StrategyRng { get; init; }
    public string WeightsSha256 { get; init; } = "";

    /// <summary>The run's task (<see cref="TaskKinds.Name"/>); absent: classification.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Task { get; init; }

    /// <summary>One line unless the run in <paramref name="dir"/> was made for <paramref name="expected"/>.</summary>
    public void RequireTask(TaskKind expected, string dir)
    {
        string path = Path.Combine(dir, DistillCheckpoint.StateJson);
        TaskKinds.Require(expected, TaskKinds.Parse(Task, path), path);
    }
}

/// <summary>
/// A distillation run on disk, in its output folder: the student as an ordinary checkpoint (student.json +
/// student.safetensors, which `mtkd eval` reads), and the rest of the run's state in state.safetensors
/// ("heads.*", "optimizer.*", "strategy.*") + state.json. Each file is written atomically, the tensors before
/// the JSON that names their hash, so a crash leaves the previous epoch's state or a refusal, never a mix.
/// </summary>
public static class DistillCheckpoint
{
    public const string StudentName = "student";
    public const string StateJson = "state.json";
    public const string StateTensors = "state.safetensors";
    private const string HeadsPrefix = "heads.", OptimizerPrefix = "optimizer.", StrategyPrefix = "strategy.";

    public static bool Exists(string dir) => File.Exists(Path.Combine(dir, StateJson));

    public static void Save(string dir, Model student, CheckpointConfig studentConfig, ProjectionHeads heads, Optimizer optimizer,
        IWeightingStrategy strategy, DistillState state)
    {
        Directory.CreateDirectory(dir);
        Checkpoint.Save(Path.Combine(dir, StudentName), student, studentConfig);
        SaveState(dir, heads, optimizer, strategy, state);
    }

    /// <summary>The run's state beside a student already saved in <paramref name="dir"/>: state.safetensors, then state.json naming its hash.</summary>
    public static void SaveState(string dir, ProjectionHeads heads, Optimizer optimizer, IWeightingStrategy strategy, DistillState state)
    {
        var builder = new SafeTensors.Builder();
        builder.Metadata["format"] = "mtkd-distill-state";
        foreach (var p in heads.Parameters) builder.Add(HeadsPrefix + p.Name, p.Value, [.. p.Shape]);
        var opt = optimizer.ExportState();
        foreach (var t in opt.Tensors) builder.Add(OptimizerPrefix + t.Name, t.Value, [.. t.Shape]);
        var strat = strategy.Export();
        foreach (var (name, values) in strat.Arrays) builder.Add(StrategyPrefix + name, values, values.Length);
        string tensorsHash = Checkpoint.WriteTensors(builder, Path.Combine(dir, StateTensors));
        JsonFiles.Write(Path.Combine(dir, StateJson), state with
        {
            Optimizer = new OptimizerRecord(opt.Kind, opt.Scalars),
            StrategyName = strat.Strategy,
            StrategyScalars = new Dictionary<string, double>(strat.Scalars),
            StrategyRng = strat.RngState,
            WeightsSha256 = tensorsHash,
        });
    }

    public static DistillState ReadState(string dir)
    {
        string path = Path.Combine(dir, StateJson);
        var state = JsonFiles.Read<DistillState>(path, "distillation state");
        if (state.FormatVersion != DistillState.CurrentFormat)
            throw new MtkdInputException($"{path}: state format {state.FormatVersion} is not supported (this build reads format {DistillState.CurrentFormat})");
        if (state.Recipe is null || state.Loader is null || state.Optimizer is null)
            throw new MtkdInputException($"{path}: incomplete distillation state (needs recipe, loader, optimizer)");
        return state;
    }

    /// <summary>Loads the student, then restores heads, optimiser and strategy from the state files (checked names and shapes).</summary>
    public static Model LoadInto(string dir, DistillState state, CpuCompute compute, ProjectionHeads heads, Func<Model, Optimizer> optimizerFor,
        IWeightingStrategy strategy, out Optimizer optimizer)
    {
        var student = Checkpoint.Load(Path.Combine(dir, StudentName), compute).Model;
        optimizer = optimizerFor(student);
        RestoreState(dir, state, heads, optimizer, strategy);
        return student;
    }

    /// <summary>Restores heads, the given optimiser and the strategy from the state files in <paramref name="dir"/> (checked names and shapes).</summary>
    public static void RestoreState(string dir, DistillState state, ProjectionHeads heads, Optimizer optimizer, IWeightingStrategy strategy)
    {
        string path = Path.Combine(dir, StateTensors);
        if (!File.Exists(path)) throw new MtkdInputException($"{path}: no such file (the tensors of {Path.Combine(dir, StateJson)})");
        string hash = FileHash.Sha256(path);
        if (hash != state.WeightsSha256)
            throw new MtkdInputException($"{path}: its SHA-256 differs from {StateJson}'s (the two come from different saves)");
        var file = SafeTensors.File.Read(path);
        foreach (var p in heads.Parameters)
            file.ReadSingle(HeadsPrefix + p.Name, [.. p.Shape]).CopyTo(p.Value, 0);
        var tensors = file.Tensors.Where(t => t.Name.StartsWith(OptimizerPrefix, StringComparison.Ordinal))
            .Select(t =>
            {
                var n = new NamedTensor(t.Name[OptimizerPrefix.Length..], t.Shape);
                file.ReadSingle(t.Name).CopyTo(n.Value, 0);
                return n;
            }).ToList();
        try { optimizer.ImportState(new OptimizerState(state.Optimizer!.Kind, tensors, state.Optimizer.Scalars)); }
        catch (MtkdInputException e) { throw new MtkdInputException($"{path}: {e.Message}"); }
        var strat = new StrategyState(state.StrategyName) { RngState = state.StrategyRng };
        foreach (var (k, v) in state.StrategyScalars) strat.Scalars[k] = v;
        foreach (var t in file.Tensors.Where(t => t.Name.StartsWith(StrategyPrefix, StringComparison.Ordinal)))
            strat.Arrays[t.Name[StrategyPrefix.Length..]] = file.ReadSingle(t.Name);
        try { strategy.Import(strat); }
        catch (MtkdInputException e) { throw new MtkdInputException($"{path}: {e.Message}"); }
    }
}
