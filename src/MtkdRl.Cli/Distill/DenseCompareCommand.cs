using MtkdRl.Core;
using MtkdRl.Distillation;
using MtkdRl.Reports;
using MtkdRl.Teachers;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Distill;

/// <summary>
/// `compare --data SCENES`: every strategy x seed as a dense run, then the report against none with Welch p: on the
/// final test mIoU for a segmentation pool, on the final test AP (and AP50 in OUT/ap50) for a detection pool.
/// </summary>
public static class DenseCompareCommand
{
    public static int Run(IAnsiConsole console, DistillOptions options, IReadOnlyList<string> strategies, int seeds, string outDir)
    {
        var template = options.Recipe("aver", 1, dense: true);
        bool detection = DetectionDistillCommand.IsDetectionPool(options.Pool);
        var spec = ModelSpec.Parse(template.Student, "student");
        if (detection && spec.Family != ModelFamily.Det)
            throw new MtkdException($"compare on scenes with a detection pool: --student {template.Student} is not a detector; give a det: spec, e.g. --student det:8x16x16");
        if (!detection && !spec.IsSegmentation)
            throw new MtkdException($"compare on scenes: --student {template.Student} is a classifier; give a segmentation spec, e.g. --student unet:8x16");
        var task = detection ? TaskKind.Detection : TaskKind.Segmentation;
        var teachers = PoolManifest.Read(options.Pool, task).Teachers.Select(t => t.Name).ToList();
        var plan = new ComparisonPlan(strategies, [.. Enumerable.Range(1, seeds).Select(s => (ulong)s)], template);
        string baseline = strategies.Contains("none") ? "none" : strategies[0];
        using var backend = options.CreateBackend();
        using var compute = new CpuCompute(options.Threads);
        using var outLock = FolderLock.Acquire(outDir);
        DenseComparisonResult result;
        string title;
        string Title(string name) => $"{name}: student {template.Student}, {template.Epochs} epochs, {seeds} seed{(seeds > 1 ? "s" : "")}, {teachers.Count} teachers";
        if (detection)
        {
            var scenes = DetectionScenes.Load(options.Data!);
            var run = new DetectionDistillRun(scenes, options.Pool, compute, backend) { Teachers = options.DenseTeachers(console) };
            title = Title(scenes.Name);
            result = DenseComparisonRunner.Compare(run, plan, outDir, teachers, baseline, title,
                (r, e) => console.MarkupLine(Markup.Escape($"{r.Strategy}/seed{r.Seed} epoch {e.Epoch}: loss {e.Loss:F4}, test AP {e.TestAp:F4}, AP50 {e.TestAp50:F4}")));
        }
        else
        {
            var data = MtkdRl.Cli.Teachers.SegmentationCommands.Open(console, options.Data!);
            var run = new DenseDistillRun(data, options.Pool, compute, backend) { Teachers = options.DenseTeachers(console) };
            title = Title(data.Descriptor.Name);
            result = DenseComparisonRunner.Compare(run, plan, outDir, teachers, baseline, title,
                (r, e) => console.MarkupLine(Markup.Escape($"{r.Strategy}/seed{r.Seed} epoch {e.Epoch}: loss {e.Loss:F4}, test mIoU {e.TestMeanIoU:F4}")));
        }
        console.Write(ComparisonTable.Render(result.Main, title));
        if (result.Ap50 is not null) console.Write(ComparisonTable.Render(result.Ap50, "the same runs on AP50"));
        console.WriteLine($"wrote {string.Join(", ", result.Files.Select(f => Path.GetRelativePath(outDir, f)))} in {outDir}");
        return 0;
    }
}
