using MtkdRl.Core;
using MtkdRl.Reports;

namespace MtkdRl.Distillation;

/// <summary>A comparison on scenes as reported: the ranked figure's comparison, for detection the AP50 one beside it, and the files written.</summary>
public sealed record DenseComparisonResult(Comparison Main, Comparison? Ap50, IReadOnlyList<string> Files);

/// <summary>
/// A comparison on scenes: each strategy x seed a dense run in its own folder under OUT/runs (the layout, the
/// settings check and the resume of <see cref="ComparisonRunner"/>), turned into report records whose test
/// figure is the final test mIoU (segmentation) or the final test AP, and AP50 in a second set (detection).
/// </summary>
public static class DenseComparisonRunner
{
    /// <summary>The ranked figure's name in a segmentation comparison's reports.</summary>
    public const string Metric = "test mIoU";

    /// <summary>The ranked figures' names in a detection comparison's two reports.</summary>
    public const string ApMetric = "test AP", Ap50Metric = "test AP50";

    /// <summary>A dense run of a recipe in a folder (resumed when it is there), hearing each epoch.</summary>
    public delegate IReadOnlyList<TEpoch> DenseRun<TEpoch>(DistillRecipe recipe, string? outDir, bool resume, Action<TEpoch>? epochDone);

    public static IReadOnlyList<RunRecord> Run(DenseDistillRun run, ComparisonPlan plan, string outDir, IReadOnlyList<string> teachers,
        Action<DistillRecipe, DenseEpoch>? epochDone = null) =>
        Run(() => new DenseWorker<DenseEpoch>(run.Run), 1, plan, outDir, teachers, epochDone);

    /// <summary>
    /// The same with <paramref name="jobs"/> runs at a time, each on a worker of its own (a dense run with its backend
    /// and compute, made by <paramref name="newWorker"/> once per parallel lane). Every run is the run it would be alone
    /// (its own folder, seed and student), so the records do not depend on <paramref name="jobs"/>.
    /// </summary>
    public static IReadOnlyList<RunRecord> Run(Func<DenseWorker<DenseEpoch>> newWorker, int jobs, ComparisonPlan plan, string outDir,
        IReadOnlyList<string> teachers, Action<DistillRecipe, DenseEpoch>? epochDone = null) =>
        [.. RunAll(newWorker, jobs, plan, outDir, epochDone).Select(r => ToRecord(r.Recipe, r.Epochs, teachers, e => e.TestMeanIoU))];

    /// <summary>A detection comparison: the runs as records on the final test AP, and the same runs on the final test AP50.</summary>
    public static (IReadOnlyList<RunRecord> Ap, IReadOnlyList<RunRecord> Ap50) Run(Func<DenseWorker<DetectionDistillEpoch>> newWorker, int jobs,
        ComparisonPlan plan, string outDir, IReadOnlyList<string> teachers, Action<DistillRecipe, DetectionDistillEpoch>? epochDone = null)
    {
        var runs = RunAll(newWorker, jobs, plan, outDir, epochDone);
        return ([.. runs.Select(r => ToRecord(r.Recipe, r.Epochs, teachers, e => e.TestAp))],
            [.. runs.Select(r => ToRecord(r.Recipe, r.Epochs, teachers, e => e.TestAp50))]);
    }

    /// <summary>The folder under OUT of a detection comparison's second report, on AP50.</summary>
    public const string Ap50Folder = "ap50";

    /// <summary>A segmentation comparison run and reported on the final test mIoU (comparison.md, .csv, .json, plots in <paramref name="outDir"/>).</summary>
    public static DenseComparisonResult Compare(DenseDistillRun run, ComparisonPlan plan, string outDir, IReadOnlyList<string> teachers, string baseline,
        string title, Action<DistillRecipe, DenseEpoch>? epochDone = null) =>
        Compare(() => new DenseWorker<DenseEpoch>(run.Run), 1, plan, outDir, teachers, baseline, title, epochDone);

    /// <summary>The same, <paramref name="jobs"/> runs at a time (<see cref="Run(Func{DenseWorker{DenseEpoch}}, int, ComparisonPlan, string, IReadOnlyList{string}, Action{DistillRecipe, DenseEpoch})"/>).</summary>
    public static DenseComparisonResult Compare(Func<DenseWorker<DenseEpoch>> newWorker, int jobs, ComparisonPlan plan, string outDir,
        IReadOnlyList<string> teachers, string baseline, string title, Action<DistillRecipe, DenseEpoch>? epochDone = null)
    {
        var comparison = Comparison.Build(Run(newWorker, jobs, plan, outDir, teachers, epochDone), baseline, Metric);
        return new DenseComparisonResult(comparison, null, ComparisonReport.Write(outDir, comparison, title));
    }

    /// <summary>A detection comparison run and reported on the final test AP in <paramref name="outDir"/>, and on AP50 in OUT/ap50.</summary>
    public static DenseComparisonResult Compare(DetectionDistillRun run, ComparisonPlan plan, string outDir, IReadOnlyList<string> teachers, string baseline,
        string title, Action<DistillRecipe, DetectionDistillEpoch>? epochDone = null) =>
        Compare(() => new DenseWorker<DetectionDistillEpoch>(run.Run), 1, plan, outDir, teachers, baseline, title, epochDone);

    /// <summary>The same, <paramref name="jobs"/> runs at a time.</summary>
    public static DenseComparisonResult Compare(Func<DenseWorker<DetectionDistillEpoch>> newWorker, int jobs, ComparisonPlan plan, string outDir,
        IReadOnlyList<string> teachers, string baseline, string title, Action<DistillRecipe, DetectionDistillEpoch>? epochDone = null)
    {
        var (ap, ap50) = Run(newWorker, jobs, plan, outDir, teachers, epochDone);
        var main = Comparison.Build(ap, baseline, ApMetric);
        var second = Comparison.Build(ap50, baseline, Ap50Metric);
        IReadOnlyList<string> files =
        [
            .. ComparisonReport.Write(outDir, main, title, $"The same runs on the final test AP50: {Ap50Folder}/comparison.md."),
            .. ComparisonReport.Write(Path.Combine(outDir, Ap50Folder), second, $"{title} (AP50)"),
        ];
        return new DenseComparisonResult(main, second, files);
    }

    /// <summary>
    /// Every run of the plan, in the plan's order: one after another on one worker when <paramref name="jobs"/> is 1,
    /// else up to <paramref name="jobs"/> at a time, a worker per lane (<see cref="ParallelLanes"/>).
    /// </summary>
    private static List<(DistillRecipe Recipe, IReadOnlyList<TEpoch> Epochs)> RunAll<TEpoch>(Func<DenseWorker<TEpoch>> newWorker, int jobs,
        ComparisonPlan plan, string outDir, Action<DistillRecipe, TEpoch>? epochDone)
    {
        if (jobs < 1) throw new MtkdInputException($"jobs must be at least 1 (got {jobs})");
        var recipes = ComparisonRunner.Prepare(plan, outDir);
        var results = new IReadOnlyList<TEpoch>[recipes.Count];
        IReadOnlyList<TEpoch> RunOne(DenseWorker<TEpoch> worker, DistillRecipe recipe)
        {
            string dir = ComparisonRunner.RunDir(outDir, recipe);
            return worker.Run(recipe, dir, DistillCheckpoint.Exists(dir), e => epochDone?.Invoke(recipe, e));
        }
        if (jobs == 1)
        {
            using var worker = newWorker();
            for (int i = 0; i < recipes.Count; i++) results[i] = RunOne(worker, recipes[i]);
        }
        else ParallelLanes.Run(Enumerable.Range(0, recipes.Count), jobs, newWorker, (i, worker) => results[i] = RunOne(worker, recipes[i]));
        return [.. recipes.Zip(results)];
    }

    /// <summary>A dense run as a report record: <paramref name="figure"/> in the test figure's place, no training accuracy, no feature weights.</summary>
    public static RunRecord ToRecord<TEpoch>(DistillRecipe recipe, IReadOnlyList<TEpoch> epochs, IReadOnlyList<string> teachers, Func<TEpoch, double> figure)
        where TEpoch : IDenseEpoch =>
        new(recipe.Strategy, (int)recipe.Seed, teachers,
            [.. epochs.Select(e => new EpochRecord(e.Epoch, e.Loss, double.NaN, figure(e), e.Seconds,
                recipe.Strategy == "none" ? [] : [.. e.MeanWl.Select(v => (double)v)], [], null))]);
}

/// <summary>One lane of a comparison on scenes: a dense run and what it owns (its backend and compute), disposed with it.</summary>
public sealed class DenseWorker<TEpoch>(DenseComparisonRunner.DenseRun<TEpoch> run, params IDisposable[] owned) : IDisposable
{
    public IReadOnlyList<TEpoch> Run(DistillRecipe recipe, string? outDir, bool resume, Action<TEpoch>? epochDone) => run(recipe, outDir, resume, epochDone);

    public void Dispose()
    {
        foreach (var d in owned) d.Dispose();
    }
}
