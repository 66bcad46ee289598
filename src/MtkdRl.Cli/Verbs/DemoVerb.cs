using CommandLine;
using MtkdRl.Cli.Distill;
using MtkdRl.Cli.Teachers;
using MtkdRl.Core;
using MtkdRl.Data.Datasets;
using MtkdRl.Distillation;
using MtkdRl.Reports;
using MtkdRl.Teachers;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

[Verb("demo", HelpText = "The main job on the committed Fashion-MNIST slice: train the quick teacher pool (once), cache it, distil a small student with none, aver, ca-mkd, mtkd-rl-paper and mtkd-rl-ppo, print the table and write the report.")]
public sealed class DemoVerb
{
    public static readonly IReadOnlyList<string> DemoStrategies = ["none", "aver", "ca-mkd", "mtkd-rl-paper", "mtkd-rl-ppo"];

    [Option("out", Default = "runs/demo", HelpText = "Folder for the pool, the runs and the report (reused: finished parts are not repeated).")]
    public string Out { get; set; } = "runs/demo";

    [Option("data", HelpText = "Dataset folder (default: the Fashion-MNIST slice committed in data/).")]
    public string? Data { get; set; }

    [Option("student", Default = "mlp:128x64", HelpText = "Student architecture.")]
    public string Student { get; set; } = "mlp:128x64";

    [Option("epochs", Default = 8, HelpText = "Distillation epochs per run.")]
    public int Epochs { get; set; } = 8;

    [Option("seeds", Default = 3, HelpText = "Seeds per strategy.")]
    public int Seeds { get; set; } = 3;

    [Option("threads", Default = 0, HelpText = "CPU threads (0: every core).")]
    public int Threads { get; set; }

    public int Run(IAnsiConsole console)
    {
        if (Epochs < 1) throw new MtkdException($"--epochs must be at least 1 (got {Epochs})");
        if (Seeds < 1) throw new MtkdException($"--seeds must be at least 1 (got {Seeds})");
        string dataDir = Data ?? DatasetLocator.FindCommittedSlice()
            ?? throw new MtkdException($"{DatasetLocator.CommittedSlice}: not found; run the demo from the repository or pass --data");
        var data = DatasetLocator.Load(dataDir);
        console.WriteLine($"data: {data}");
        using var outLock = FolderLock.Acquire(Out);
        string pool = Path.Combine(Out, "pool");
        using var compute = new CpuCompute(Threads);

        var plans = PoolPresets.Get("quick", data, 1);
        bool complete = PoolManifest.Exists(pool) && plans.All(p => PoolManifest.Read(pool).Teachers.Any(t => t.Name == p.Name));
        if (!complete)
        {
            console.WriteLine($"training the quick teacher pool into {pool} ...");
            TrainingProgress.Run(console, observer => TeacherPool.Train(pool, data, plans, compute, observer));
        }
        var manifest = PoolManifest.Read(pool);
        if (!CacheIsCurrent(pool, data))
        {
            console.WriteLine("caching the teachers' outputs ...");
            TrainingProgress.RunCache(console, progress => TeacherCache.Build(pool, data, false, compute, progress));
        }
        var teachers = new Table().Border(TableBorder.Rounded).Title("teacher pool (quick preset)");
        teachers.AddColumns("teacher", "spec", "D", "test acc");
        foreach (var t in manifest.Teachers)
            teachers.AddRow(Markup.Escape(t.Name), Markup.Escape(t.Spec), $"{t.EmbeddingWidth}", $"{t.TestAccuracy:P2}");
        console.Write(teachers);

        var template = new DistillRecipe { Student = Student, Epochs = Epochs };
        var plan = new ComparisonPlan(DemoStrategies, [.. Enumerable.Range(1, Seeds).Select(s => (ulong)s)], template);
        using var backend = Backends.BackendCatalog.Create("native");
        var trainer = new DistillTrainer(data, pool, compute, backend, "native");
        var names = manifest.Teachers.Select(t => t.Name).ToList();
        var runs = DistillProgress.Run(console, observer => ComparisonRunner.Run(trainer, plan, Out, names, observer));
        var comparison = Comparison.Build(runs);
        string title = $"demo: {data.Name}, student {Student}, {Epochs} epochs, {Seeds} seeds, {names.Count} teachers";
        string preface = "Teacher pool (quick preset):\n\n| teacher | spec | D | test accuracy |\n|---|---|---:|---:|\n"
            + string.Concat(manifest.Teachers.Select(t => $"| {t.Name} | {t.Spec} | {t.EmbeddingWidth} | {100 * t.TestAccuracy:0.00} % |\n"));
        string reading = Reading(comparison, manifest.Teachers.Max(t => t.TestAccuracy), data.Test.Count);
        var files = ComparisonReport.Write(Out, comparison, title, preface + "\n" + reading + "\n");
        console.Write(ComparisonTable.Render(comparison, title));
        console.WriteLine(reading);
        console.WriteLine($"report: {Path.Combine(Out, "comparison.md")} ({string.Join(", ", files.Select(Path.GetFileName))})");
        return 0;
    }

    /// <summary>
    /// How much this table can tell: how far the best teacher is above the student alone, what one test row is
    /// worth, and how far seeds of one strategy spread. On the slice all three are of the size of the gaps between
    /// strategies, and a reader should know that before ranking them.
    /// </summary>
    public static string Reading(Comparison comparison, double bestTeacher, int testRows)
    {
        var alone = comparison.Rows.FirstOrDefault(r => r.Strategy == "none");
        string gap = alone is null ? "" : $", {100 * (bestTeacher - alone.MeanAccuracy):+0.0;-0.0} points from the student alone";
        double spread = comparison.Rows.Where(r => double.IsFinite(r.StdAccuracy)).Select(r => r.StdAccuracy).DefaultIfEmpty(double.NaN).Max();
        string seeds = double.IsFinite(spread) ? $", and the seeds of one strategy spread by up to {100 * spread:0.00} points (std)" : "";
        return $"Reading: the best teacher scores {100 * bestTeacher:0.00} %{gap}; one of the {testRows:N0} test images is "
            + $"{100.0 / testRows:0.00} points{seeds}. Gaps of a few tenths of a point are not resolved here; docs/RESULTS.md "
            + "compares the strategies on the full Fashion-MNIST with the default pool.";
    }

    private static bool CacheIsCurrent(string pool, ImageDataset data)
    {
        foreach (var split in TeacherCache.Splits)
        {
            try { TeacherCache.Open(pool, split, data).Dispose(); }
            catch (MtkdInputException) { return false; }
        }
        return true;
    }
}
