using CommandLine;
using MtkdRl.Cli.Teachers;
using MtkdRl.Core;
using MtkdRl.Core.Cluster;
using MtkdRl.Data.Datasets;
using MtkdRl.Teachers;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

[Verb("teachers", HelpText = "The teacher pool. `teachers train`: train a preset pool. `teachers cache`: run every teacher once over train and test and cache the outputs (on a scenes pool: the training images, on a student's output grid). `teachers import`: add a teacher's outputs computed elsewhere (NPY), or run an ONNX model over the dataset. `teachers agreement`: how often the teachers are right and agree, and what a per-sample pick of teachers could reach, from the cache. `teachers remove`: take a teacher out of the pool.")]
public sealed partial class TeachersVerb
{
    [Value(0, MetaName = "action", Required = true, HelpText = "train, cache, import, recipe (print a preset's recipe file), agreement (how far the teachers agree, from the cache) or remove (take --name out of the pool, with its files and the pool's caches).")]
    public string Action { get; set; } = "";

    [Option("pool", HelpText = "The pool folder (pool.json, recipe.json, checkpoints, caches); required by train, cache, import, agreement and remove.")]
    public string Pool { get; set; } = "";

    [Option("data", HelpText = "Dataset folder (default: the full Fashion-MNIST when installed, else the slice in data/).")]
    public string? Data { get; set; }

    [Option("preset", HelpText = "train, recipe: quick (4 small teachers, about two minutes of CPU on the slice; the default), default (6 teachers sized for a full MNIST-family dataset) or specialists (3 class specialists and a linear generalist); on a scenes folder (--data with dataset.json): seg-quick (3 segmentation teachers, the default there), seg-default (5, two of them weak), det-quick (3 detectors) or det-default (4 detectors, 2 of them weak).")]
    public string? Preset { get; set; }

    [Option("recipe", HelpText = "train: a pool recipe file (JSON: per teacher name, spec, epochs, lr, batch, augment, subset, seed; `teachers recipe --preset quick` prints one to start from). A trained pool keeps its recipe as POOL/recipe.json.")]
    public string? Recipe { get; set; }

    [Option("augment", HelpText = "train: augmentation of every teacher: auto (a flip where the dataset's classes are mirror-invariant, else shifts of about a fourteenth of the image side), none, flip, crop:N or crop:N+flip. Default: each teacher's own (auto unless its recipe says).")]
    public string? Augment { get; set; }

    [Option("seed", HelpText = "train: seed of every random choice (initialisation, shuffling, augmentation, subsets); default: the recipe's (1 for presets).")]
    public int? Seed { get; set; }

    [Option("epochs", Default = 0, HelpText = "train: epochs for every teacher (0: each preset teacher's own).")]
    public int Epochs { get; set; }

    [Option("threads", Default = 0, HelpText = "train, cache, import --onnx: CPU threads (0: every core).")]
    public int Threads { get; set; }

    [Option("half", HelpText = "cache: store outputs as float16 (half the size; logits keep about 3 significant digits).")]
    public bool Half { get; set; }

    [Option("name", HelpText = "import: the teacher's name in the pool; remove: the teacher to take out.")]
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
        "recipe" => RunRecipe(console),
        "agreement" => RunAgreement(console),
        "remove" => RunRemove(console),
        _ => throw new MtkdException($"teachers: unknown action '{Action}' (known: train, cache, import, recipe, agreement, remove)"),
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
        if (Preset is not null && Recipe is not null) throw new MtkdException("teachers train: give --preset or --recipe, not both");
        bool scenes = SegmentationCommands.IsScenes(Data);
        string preset = Preset ?? (scenes ? "seg-quick" : "quick");
        if (!scenes && Recipe is null && preset.StartsWith("seg-", StringComparison.OrdinalIgnoreCase))
            throw new MtkdException($"teachers train --preset {preset}: segmentation teachers need --data to be a scenes folder (make one with `mtkd data scenes`)");
        string source = Recipe ?? $"preset '{preset}'";
        var recipe = (Recipe is not null ? PoolRecipe.Read(Recipe) : PoolPresets.Recipe(preset))
            .With(Seed is int s ? (ulong)s : null, Epochs, Augment);
        if (TaskKinds.Parse(recipe.Task, source) == TaskKind.Detection) return RunTrainDetection(console, recipe, source);
        if (scenes) return SegmentationCommands.Train(console, Pool, Data!, recipe, source, Threads);
        var data = OpenData(console);
        console.MarkupLine(Markup.Escape($"flips: {(data.Mirror.Invariant ? "allowed" : "not used")} ({data.Mirror.Source})"));
        using var compute = new CpuCompute(Threads);
        var results = TrainingProgress.Run(console, observer => TeacherPool.Train(Pool, data, recipe, source, compute, observer));
        console.Write(PoolTable($"pool {Pool} ({source}, seed {recipe.Seed})", results, "test acc", t => $"{t.TestAccuracy:P2}"));
        console.MarkupLine(Markup.Escape($"wrote {PoolManifest.PathIn(Pool)}; next: mtkd teachers cache --pool {Pool}"));
        return 0;
    }

    /// <summary>The table `teachers train` prints: one row per teacher, its test score in <paramref name="score"/>'s format.</summary>
    private static Table PoolTable(string title, IReadOnlyList<TrainedTeacher> results, string scoreName, Func<PoolTeacher, string> score)
    {
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(title));
        table.AddColumns("teacher", "spec", "augment", "params", "D", scoreName, "seconds", "status");
        foreach (int i in new[] { 3, 4, 5, 6 }) table.Columns[i].RightAligned();
        foreach (var r in results)
        {
            var t = r.Entry;
            table.AddRow(Markup.Escape(t.Name), Markup.Escape(t.Spec), $"{r.Augmentation}", $"{t.Parameters:N0}", $"{t.EmbeddingWidth}", score(t),
                $"{t.Seconds:F1}", r.Skipped ? "kept (already trained)" : r.Resumed ? "resumed" : "trained");
        }
        return table;
    }

    private int RunRecipe(IAnsiConsole console)
    {
        console.Profile.Out.Writer.Write(PoolPresets.Text(Preset ?? "quick"));
        return 0;
    }

    private int RunCache(IAnsiConsole console)
    {
        bool scenes = SegmentationCommands.IsScenes(Data);
        if (!scenes && (Uncompressed || Float32 || Student is not null))
            throw new MtkdException("teachers cache: --uncompressed, --float32 and --student are for a scenes pool's cache (--data a scenes folder); a classification cache is float32 unless --half");
        CheckPool();
        if (scenes) return RunDenseCache(console);
        var job = Job.World;
        console = JobConsole.For(console, job);
        var data = OpenData(console);
        using var compute = new CpuCompute(Threads);
        var results = TrainingProgress.RunCache(console, progress => TeacherCache.Build(Pool, data, Half, compute, progress, job));
        WriteCacheTable(console, results);
        return 0;
    }

    private static void WriteCacheTable(IAnsiConsole console, IReadOnlyList<CacheBuildResult> results)
    {
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumns("split", "file", "rows", "K", "F", "dtype", "MB", "seconds");
        foreach (var r in results)
            table.AddRow(r.Split, Markup.Escape(r.Path), $"{r.Rows}", $"{r.Teachers}", $"{r.F}", r.DType.ToString().ToLowerInvariant(),
                $"{r.Bytes / 1e6:F1}", $"{r.Seconds:F1}");
        console.Write(table);
    }

    private int RunImport(IAnsiConsole console)
    {
        CheckPool();
        if (Onnx is not null) return RunOnnxImport(console);
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
