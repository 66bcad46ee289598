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
        [.. RunAll(run.Run, plan, outDir, epochDone).Select(r => ToRecord(r.Recipe, r.Epochs, teachers, e => e.TestMeanIoU))];

    /// <summary>A detection comparison: the runs as records on the final test AP, and the same runs on the final test AP50.</summary>
    public static (IReadOnlyList<RunRecord> Ap, IReadOnlyList<RunRecord> Ap50) Run(DetectionDistillRun run, ComparisonPlan plan, string outDir,
        IReadOnlyList<string> teachers, Action<DistillRecipe, DetectionDistillEpoch>? epochDone = null)
    {
        var runs = RunAll(run.Run, plan, outDir, epochDone);
        return ([.. runs.Select(r => ToRecord(r.Recipe, r.Epochs, teachers, e => e.TestAp))],
            [.. runs.Select(r => ToRecord(r.Recipe, r.Epochs, teachers, e => e.TestAp50))]);
    }

    /// <summary>The folder under OUT of a detection comparison's second report, on AP50.</summary>
    public const string Ap50Folder = "ap50";

    /// <summary>A segmentation comparison run and reported on the final test mIoU (comparison.md, .csv, .json, plots in <paramref name="outDir"/>).</summary>
    public static DenseComparisonResult Compare(DenseDistillRun run, ComparisonPlan plan, string outDir, IReadOnlyList<string> teachers, string baseline,
        string title, Action<DistillRecipe, DenseEpoch>? epochDone = null)
    {
        var comparison = Comparison.Build(Run(run, plan, outDir, teachers, epochDone), baseline, Metric);
        return new DenseComparisonResult(comparison, null, ComparisonReport.Write(outDir, comparison, title));
    }

    /// <summary>A detection comparison run and reported on the final test AP in <paramref name="outDir"/>, and on AP50 in OUT/ap50.</summary>
    public static DenseComparisonResult Compare(DetectionDistillRun run, ComparisonPlan plan, string outDir, IReadOnlyList<string> teachers, string baseline,
        string title, Action<DistillRecipe, DetectionDistillEpoch>? epochDone = null)
    {
        var (ap, ap50) = Run(run, plan, outDir, teachers, epochDone);
        var main = Comparison.Build(ap, baseline, ApMetric);
        var second = Comparison.Build(ap50, baseline, Ap50Metric);
        IReadOnlyList<string> files =
        [
            .. ComparisonReport.Write(outDir, main, title, $"The same runs on the final test AP50: {Ap50Folder}/comparison.md."),
            .. ComparisonReport.Write(Path.Combine(outDir, Ap50Folder), second, $"{title} (AP50)"),
        ];
        return new DenseComparisonResult(main, second, files);
    }

    private static List<(DistillRecipe Recipe, IReadOnlyList<TEpoch> Epochs)> RunAll<TEpoch>(DenseRun<TEpoch> run, ComparisonPlan plan, string outDir,
        Action<DistillRecipe, TEpoch>? epochDone)
    {
        var runs = new List<(DistillRecipe, IReadOnlyList<TEpoch>)>();
        foreach (var recipe in ComparisonRunner.Prepare(plan, outDir))
        {
            string dir = ComparisonRunner.RunDir(outDir, recipe);
            runs.Add((recipe, run(recipe, dir, DistillCheckpoint.Exists(dir), e => epochDone?.Invoke(recipe, e))));
        }
        return runs;
    }

    /// <summary>A dense run as a report record: <paramref name="figure"/> in the test figure's place, no training accuracy, no feature weights.</summary>
    public static RunRecord ToRecord<TEpoch>(DistillRecipe recipe, IReadOnlyList<TEpoch> epochs, IReadOnlyList<string> teachers, Func<TEpoch, double> figure)
        where TEpoch : IDenseEpoch =>
        new(recipe.Strategy, (int)recipe.Seed, teachers,
            [.. epochs.Select(e => new EpochRecord(e.Epoch, e.Loss, double.NaN, figure(e), e.Seconds,
                recipe.Strategy == "none" ? [] : [.. e.MeanWl.Select(v => (double)v)], [], null))]);
}
