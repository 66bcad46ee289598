using MtkdRl.Core;
using MtkdRl.Distillation;
using MtkdRl.Reports;
using MtkdRl.Teachers;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Distill;

/// <summary>
/// `compare --data SCENES`: every strategy x seed as a dense run, then the report against the baseline (none unless
/// --baseline says otherwise) with Welch and paired p: on the
/// final test mIoU for a segmentation pool, on the final test AP (and AP50 in OUT/ap50) for a detection pool.
/// With --jobs N, N runs at a time, each with its own backend and compute of <c>threads</c> threads.
/// </summary>
public static class DenseCompareCommand
{
    public static int Run(IAnsiConsole console, DistillOptions options, IReadOnlyList<string> strategies, int seeds, string outDir, string baseline, int jobs = 1, int threads = 0)
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
        using var outLock = FolderLock.Acquire(outDir);
        var gate = new object();
        void Say(string line)
        {
            lock (gate) console.MarkupLine(Markup.Escape(line));
        }
        var teacherOptions = options.DenseTeachers(console) with { Said = Say };
        // A lane's worker: its own backend and compute of `threads` threads (0: the options' own), and the run on them.
        Func<DenseWorker<TEpoch>> Lanes<TEpoch>(Func<CpuCompute, MtkdRl.Core.Distill.IDistillBackend, DenseComparisonRunner.DenseRun<TEpoch>> run) => () =>
        {
            int n = threads > 0 ? threads : options.Threads;
            var backend = MtkdRl.Backends.BackendCatalog.Create(options.Backend, n);
            var compute = new CpuCompute(n);
            return new DenseWorker<TEpoch>(run(compute, backend), backend, compute);
        };
        DenseComparisonResult result;
        string title;
        string Title(string name) => $"{name}: student {template.Student}, {template.Epochs} epochs, {seeds} seed{(seeds > 1 ? "s" : "")}, {teachers.Count} teachers";
        if (detection)
        {
            var scenes = DetectionScenes.Load(options.Data!);
            title = Title(scenes.Name);
            result = DenseComparisonRunner.Compare(Lanes<DetectionDistillEpoch>((compute, backend) => new DetectionDistillRun(scenes, options.Pool, compute, backend) { Teachers = teacherOptions }.Run),
                jobs, plan, outDir, teachers, baseline, title,
                (r, e) => Say($"{r.Strategy}/seed{r.Seed} epoch {e.Epoch}: loss {e.Loss:F4}, test AP {e.TestAp:F4}, AP50 {e.TestAp50:F4}"));
        }
        else
        {
            var data = MtkdRl.Cli.Teachers.SegmentationCommands.Open(console, options.Data!);
            title = Title(data.Descriptor.Name);
            result = DenseComparisonRunner.Compare(Lanes<DenseEpoch>((compute, backend) => new DenseDistillRun(data, options.Pool, compute, backend) { Teachers = teacherOptions }.Run),
                jobs, plan, outDir, teachers, baseline, title,
                (r, e) => Say($"{r.Strategy}/seed{r.Seed} epoch {e.Epoch}: loss {e.Loss:F4}, test mIoU {e.TestMeanIoU:F4}"));
        }
        console.Write(ComparisonTable.Render(result.Main, title));
        if (result.Ap50 is not null) console.Write(ComparisonTable.Render(result.Ap50, "the same runs on AP50"));
        console.WriteLine($"wrote {string.Join(", ", result.Files.Select(f => Path.GetRelativePath(outDir, f)))} in {outDir}");
        return 0;
    }
}
