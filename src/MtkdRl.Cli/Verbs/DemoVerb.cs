using CommandLine;
using MtkdRl.Core;
using MtkdRl.Cli.Distill;
using MtkdRl.Cli.Teachers;
using MtkdRl.Distillation;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

[Verb("demo", HelpText = "The main job on the committed Fashion-MNIST slice: train the quick teacher pool (once), cache it, distil a small student with none, aver, ca-mkd, mtkd-rl-paper and mtkd-rl-ppo, print the table and write the report.")]
public sealed class DemoVerb
{
    [Option("out", Default = "runs/demo", HelpText = "Folder for the pool, the runs and the report (reused: finished parts are not repeated).")]
    public string Out { get; set; } = "runs/demo";

    [Option("data", HelpText = "Dataset folder (default: the Fashion-MNIST slice committed in data/).")]
    public string? Data { get; set; }

    [Option("student", Default = "mlp:128x64", HelpText = "Student architecture.")]
    public string Student { get; set; } = "mlp:128x64";

    [Option("epochs", HelpText = "Distillation epochs per run (default: 8; 12 for --task segmentation, 16 for --task detection).")]
    public int? Epochs { get; set; }

    [Option("seeds", Default = 3, HelpText = "Seeds per strategy.")]
    public int Seeds { get; set; } = 3;

    [Option("threads", Default = 0, HelpText = "CPU threads (0: every core).")]
    public int Threads { get; set; }

    [Option("kd-loss", HelpText = "Logit divergence of the KD term: kl (default), reverse-kl, jsd[:beta], dkd[:alpha,beta].")]
    public string? KdLoss { get; set; }

    [Option("feature-loss", HelpText = "Feature loss: mse (default), cosine, smooth-l1.")]
    public string? FeatureLoss { get; set; }

    [Option("task", Default = "classification", HelpText = "classification, or segmentation: scenes composed from the slice, the seg-quick teachers cached on the canvas grid, none/aver/ca-mkd/mtkd-rl-ppo on test mIoU; or detection: the same scenes, the det-quick teachers cached on the student's grid, the same strategies on test AP and AP50.")]
    public string Task { get; set; } = "classification";

    [Option("per-pixel-weights", HelpText = "--task segmentation or detection: the strategy weighs every pixel or location on its own instead of once per image.")]
    public bool PerPixelWeights { get; set; }

    public int Run(IAnsiConsole console)
    {
        var task = TaskKinds.Parse(Task, "--task");
        if (task == TaskKind.Segmentation) return DenseDemoCommand.Run(console, Out, Data, Student, Epochs, Seeds, Threads, PerPixelWeights);
        if (task == TaskKind.Detection) return DenseDemoCommand.RunDetection(console, Out, Data, Student, Epochs, Seeds, Threads, PerPixelWeights);
        var demo = new DemoPipeline(new DemoSettings(Out, Data, Student, Epochs ?? 8, Seeds, KdLoss, FeatureLoss));
        console.WriteLine($"data: {demo.Data}");
        using var outLock = FolderLock.Acquire(Out);
        using var compute = new CpuCompute(Threads);
        if (!demo.PoolIsComplete)
        {
            console.WriteLine($"training the quick teacher pool into {demo.PoolDir} ...");
            TrainingProgress.Run(console, observer => demo.TrainPool(compute, observer));
        }
        var manifest = demo.Manifest;
        if (!demo.CacheIsCurrent())
        {
            console.WriteLine("caching the teachers' outputs ...");
            TrainingProgress.RunCache(console, progress => demo.BuildCache(compute, progress));
        }
        var teachers = new Table().Border(TableBorder.Rounded).Title("teacher pool (quick preset)");
        teachers.AddColumns("teacher", "spec", "D", "test acc");
        foreach (var t in manifest.Teachers)
            teachers.AddRow(Markup.Escape(t.Name), Markup.Escape(t.Spec), $"{t.EmbeddingWidth}", $"{t.TestAccuracy:P2}");
        console.Write(teachers);

        using var backend = Backends.BackendCatalog.Create("native");
        var result = DistillProgress.Run(console, observer => demo.Compare(compute, backend, "native", observer));
        console.Write(ComparisonTable.Render(result.Comparison, result.Title));
        console.WriteLine(result.Reading);
        console.WriteLine($"report: {Path.Combine(Out, "comparison.md")} ({string.Join(", ", result.Files.Select(Path.GetFileName))})");
        return 0;
    }
}
