using MtkdRl.Core;
using MtkdRl.Distillation;
using MtkdRl.Reports;
using MtkdRl.Teachers;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Distill;

/// <summary>`compare --data SCENES`: every strategy x seed as a dense run, then the report on the final test mIoU, Welch p against none.</summary>
public static class DenseCompareCommand
{
    public static int Run(IAnsiConsole console, DistillOptions options, IReadOnlyList<string> strategies, int seeds, string outDir)
    {
        var template = options.Recipe("aver", 1);
        if (!ModelSpec.Parse(template.Student, "student").IsSegmentation)
            throw new MtkdException($"compare on scenes: --student {template.Student} is a classifier; give a segmentation spec, e.g. --student unet:8x16");
        var data = MtkdRl.Cli.Teachers.SegmentationCommands.Open(console, options.Data!);
        var teachers = PoolManifest.Read(options.Pool, TaskKind.Segmentation).Teachers.Select(t => t.Name).ToList();
        var plan = new ComparisonPlan(strategies, [.. Enumerable.Range(1, seeds).Select(s => (ulong)s)], template);
        using var backend = options.CreateBackend();
        using var compute = new CpuCompute(options.Threads);
        using var outLock = FolderLock.Acquire(outDir);
        var runs = DenseComparisonRunner.Run(new DenseDistillRun(data, options.Pool, compute, backend) { Teachers = options.DenseTeachers(console) }, plan, outDir, teachers,
            (r, e) => console.MarkupLine(Markup.Escape($"{r.Strategy}/seed{r.Seed} epoch {e.Epoch}: loss {e.Loss:F4}, test mIoU {e.TestMeanIoU:F4}")));
        var comparison = Comparison.Build(runs, strategies.Contains("none") ? "none" : strategies[0], DenseComparisonRunner.Metric);
        string title = $"{data.Descriptor.Name}: student {template.Student}, {template.Epochs} epochs, {seeds} seed{(seeds > 1 ? "s" : "")}, {teachers.Count} teachers";
        var files = ComparisonReport.Write(outDir, comparison, title);
        console.Write(ComparisonTable.Render(comparison, title));
        console.WriteLine($"wrote {string.Join(", ", files.Select(Path.GetFileName))} in {outDir}");
        return 0;
    }
}
