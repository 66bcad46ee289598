using CommandLine;
using MtkdRl.Cli.Teachers;
using MtkdRl.Core;
using MtkdRl.Data.Datasets;
using MtkdRl.Teachers;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

[Verb("teachers", HelpText = "The teacher pool. `teachers train`: train a preset pool. `teachers cache`: run every teacher once over train and test and cache the outputs. `teachers import`: add a teacher's outputs computed elsewhere (NPY).")]
public sealed class TeachersVerb
{
    [Value(0, MetaName = "action", Required = true, HelpText = "train, cache or import.")]
    public string Action { get; set; } = "";

    [Option("pool", Required = true, HelpText = "The pool folder (pool.json, checkpoints, caches).")]
    public string Pool { get; set; } = "";

    [Option("data", HelpText = "Dataset folder (default: the full Fashion-MNIST when installed, else the slice in data/).")]
    public string? Data { get; set; }

    [Option("preset", Default = "quick", HelpText = "train: quick (4 small teachers, about a minute on the slice), default (6 teachers sized for full Fashion-MNIST) or specialists (3 class specialists and a linear generalist).")]
    public string Preset { get; set; } = "quick";

    [Option("seed", Default = 1, HelpText = "train: seed of every random choice (initialisation, shuffling, augmentation, subsets).")]
    public int Seed { get; set; } = 1;

    [Option("epochs", Default = 0, HelpText = "train: epochs for every teacher (0: each preset teacher's own).")]
    public int Epochs { get; set; }

    [Option("threads", Default = 0, HelpText = "train, cache: CPU threads (0: every core).")]
    public int Threads { get; set; }

    [Option("half", HelpText = "cache: store outputs as float16 (half the size; logits keep about 3 significant digits).")]
    public bool Half { get; set; }

    [Option("name", HelpText = "import: the teacher's name in the pool.")]
    public string? Name { get; set; }

    [Option("train-logits", HelpText = "import: NPY [N_train, C] logits.")]
    public string? TrainLogits { get; set; }

    [Option("train-embeddings", HelpText = "import: NPY [N_train, D] penultimate embeddings.")]
    public string? TrainEmbeddings { get; set; }

    [Option("test-logits", HelpText = "import: NPY [N_test, C] logits.")]
    public string? TestLogits { get; set; }

    [Option("test-embeddings", HelpText = "import: NPY [N_test, D] embeddings; without it the test cache holds zeros for this teacher's embedding.")]
    public string? TestEmbeddings { get; set; }

    public int Run(IAnsiConsole console) => Action.ToLowerInvariant() switch
    {
        "train" => RunTrain(console),
        "cache" => RunCache(console),
        "import" => RunImport(console),
        _ => throw new MtkdException($"teachers: unknown action '{Action}' (known: train, cache, import)"),
    };

    private ImageDataset OpenData(IAnsiConsole console)
    {
        var choice = DatasetLocator.Resolve(Data);
        var data = DatasetLocator.Load(choice.Directory);
        console.MarkupLine(Markup.Escape($"data: {data} [{choice.Reason}]"));
        return data;
    }

    private void CheckPool()
    {
        if (string.IsNullOrWhiteSpace(Pool)) throw new MtkdException("--pool must name a folder");
    }

    private int RunTrain(IAnsiConsole console)
    {
        CheckPool();
        if (Seed < 0) throw new MtkdException($"--seed must be >= 0 (got {Seed})");
        if (Epochs < 0) throw new MtkdException($"--epochs must be positive (got {Epochs})");
        var plans = PoolPresets.Get(Preset, (ulong)Seed, Epochs);
        var data = OpenData(console);
        using var compute = new CpuCompute(Threads);
        var results = TrainingProgress.Run(console, observer => TeacherPool.Train(Pool, data, plans, compute, observer));
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape($"pool {Pool} ({Preset}, seed {Seed})"));
        table.AddColumns("teacher", "spec", "params", "D", "test acc", "seconds", "status");
        foreach (int i in new[] { 2, 3, 4, 5 }) table.Columns[i].RightAligned();
        foreach (var r in results)
        {
            var t = r.Entry;
            table.AddRow(Markup.Escape(t.Name), Markup.Escape(t.Spec), $"{t.Parameters:N0}", $"{t.EmbeddingWidth}", $"{t.TestAccuracy:P2}",
                $"{t.Seconds:F1}", r.Skipped ? "kept (already trained)" : r.Resumed ? "resumed" : "trained");
        }
        console.Write(table);
        console.MarkupLine(Markup.Escape($"wrote {PoolManifest.PathIn(Pool)}; next: mtkd teachers cache --pool {Pool}"));
        return 0;
    }

    private int RunCache(IAnsiConsole console)
    {
        CheckPool();
        var data = OpenData(console);
        using var compute = new CpuCompute(Threads);
        var results = TrainingProgress.RunCache(console, progress => TeacherCache.Build(Pool, data, Half, compute, progress));
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumns("split", "file", "rows", "K", "F", "dtype", "MB", "seconds");
        foreach (var r in results)
            table.AddRow(r.Split, Markup.Escape(r.Path), $"{r.Rows}", $"{r.Teachers}", $"{r.F}", r.DType.ToString().ToLowerInvariant(),
                $"{r.Bytes / 1e6:F1}", $"{r.Seconds:F1}");
        console.Write(table);
        return 0;
    }

    private int RunImport(IAnsiConsole console)
    {
        CheckPool();
        string Need(string? value, string option) =>
            string.IsNullOrWhiteSpace(value) ? throw new MtkdException($"teachers import: {option} is required") : value;
        var files = new TeacherPool.ImportFiles(Need(TrainLogits, "--train-logits"), Need(TrainEmbeddings, "--train-embeddings"),
            Need(TestLogits, "--test-logits"), TestEmbeddings);
        string name = Need(Name, "--name");
        ImageDataset? data = null;
        if (Data is not null || !PoolManifest.Exists(Pool)) data = OpenData(console);
        var entry = TeacherPool.Import(Pool, name, files, data);
        string accuracy = entry.TestAccuracy >= 0 ? $"{entry.TestAccuracy:P2}" : "not scored (pass --data to score it)";
        console.MarkupLine(Markup.Escape($"imported teacher '{entry.Name}' into {PoolManifest.PathIn(Pool)}: D = {entry.EmbeddingWidth}, test accuracy {accuracy}"));
        if (files.TestEmbeddings is null) console.MarkupLine("no test embeddings given: the test cache holds zeros for them");
        console.MarkupLine(Markup.Escape($"next: mtkd teachers cache --pool {Pool}"));
        return 0;
    }
}
