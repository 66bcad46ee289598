using MtkdRl.Backends;
using CommandLine;
using MtkdRl.Cli.Distill;
using MtkdRl.Core;
using MtkdRl.Core.Cluster;
using MtkdRl.Data.Datasets;
using MtkdRl.Distillation;
using MtkdRl.Reports;
using MtkdRl.Strategies;
using MtkdRl.Teachers;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

[Verb("compare", HelpText = "Distil with every strategy x seed, then a table (mean ± std test accuracy, Welch and paired p against the baseline) as markdown, CSV, JSON and PNG plots.")]
public sealed class CompareVerb : DistillOptions
{
    [Option("strategies", Default = "none,aver,ca-mkd,ebkd,mtkd-rl-paper,mtkd-rl-ppo", HelpText = "Comma-separated strategies.")]
    public string Strategies { get; set; } = "none,aver,ca-mkd,ebkd,mtkd-rl-paper,mtkd-rl-ppo";

    [Option("seeds", Default = 3, HelpText = "Seeds per strategy (1..N).")]
    public int Seeds { get; set; } = 3;

    [Option("jobs", Default = 1, HelpText = "Runs at once, each with its own compute threads and op backend (--threads each; 0: the cores shared out). Results equal --jobs 1.")]
    public int Jobs { get; set; } = 1;

    [Option("baseline", HelpText = "The strategy the report compares every other with (one of --strategies; default: aver, or none on scenes, else the first strategy).")]
    public string? Baseline { get; set; }

    [Option("out", Default = "runs/compare", HelpText = "Folder for the runs (OUT/runs/STRATEGY-seedN) and the report.")]
    public string Out { get; set; } = "runs/compare";

    public int Run(IAnsiConsole console)
    {
        CheckCommon();
        var job = Job.World;
        console = JobConsole.For(console, job);
        if (Seeds < 1) throw new MtkdException($"--seeds must be at least 1 (got {Seeds})");
        var strategies = Strategies.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Distinct().ToList();
        if (strategies.Count == 0) throw new MtkdException("--strategies names none");
        bool scenes = MtkdRl.Cli.Teachers.SegmentationCommands.IsScenes(Data);
        string baseline = Comparison.ChooseBaseline(strategies, Baseline, scenes ? "none" : "aver");
        var template = Recipe("aver", 1);
        if (Jobs < 1) throw new MtkdException($"--jobs must be at least 1 (got {Jobs})");
        int threads = Threads > 0 || Jobs == 1 ? Threads : Math.Max(1, Environment.ProcessorCount / Jobs);
        // An unavailable backend is the first thing to report, before any data or pool is read.
        BackendCatalog.Create(Backend, threads).Dispose();
        if (scenes)
        {
            return DenseCompareCommand.Run(console, this, strategies, Seeds, Out, baseline, Jobs, threads);
        }
        var data = DatasetLocator.Open(Data);
        var plan = new ComparisonPlan(strategies, [.. Enumerable.Range(1, Seeds).Select(s => (ulong)s)], ForData(template, data.Train.Count));
        var teachers = PoolManifest.Read(Pool).Teachers.Select(t => t.Name).ToList();
        ComparisonWorker NewWorker()
        {
            var backend = BackendCatalog.Create(Backend, threads);
            var compute = new CpuCompute(threads);
            return new ComparisonWorker(new DistillTrainer(data, Pool, compute, backend, Backend), backend, compute);
        }
        // Under mpirun the ranks share the runs (each locks the run folders it writes); rank 0 owns OUT and the report.
        using var outLock = job.IsRoot ? FolderLock.Acquire(Out) : null;
        var runs = DistillProgress.Run(console, observer => ComparisonRunner.Run(NewWorker, Jobs, plan, Out, teachers, observer, job: job));
        if (!job.IsRoot) return 0;
        var comparison = Comparison.Build(runs, baseline);
        string title = $"{data.Name}: student {Student}, {plan.Template.Epochs} epochs, {Seeds} seed{(Seeds > 1 ? "s" : "")}, {teachers.Count} teachers";
        var files = ComparisonReport.Write(Out, comparison, title);
        console.Write(ComparisonTable.Render(comparison, title));
        string? warning = ComparisonRunner.WeakPoolWarning(runs, Pool, data);
        if (warning is not null) console.MarkupLine($"[yellow]{Markup.Escape(warning)}[/]");
        console.WriteLine($"wrote {string.Join(", ", files.Select(Path.GetFileName))} in {Out}");
        return 0;
    }
}
