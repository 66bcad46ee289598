using MtkdRl.Reports;

namespace MtkdRl.Distillation;

/// <summary>
/// A comparison on scenes: each strategy x seed a dense run in its own folder under OUT/runs (the layout, the
/// settings check and the resume of <see cref="ComparisonRunner"/>), turned into report records whose test
/// figure is the final test mIoU.
/// </summary>
public static class DenseComparisonRunner
{
    /// <summary>The ranked figure's name in a segmentation comparison's reports.</summary>
    public const string Metric = "test mIoU";

    public static IReadOnlyList<RunRecord> Run(DenseDistillRun run, ComparisonPlan plan, string outDir, IReadOnlyList<string> teachers,
        Action<DistillRecipe, DenseEpoch>? epochDone = null)
    {
        var records = new List<RunRecord>();
        foreach (var recipe in ComparisonRunner.Prepare(plan, outDir))
        {
            string dir = ComparisonRunner.RunDir(outDir, recipe);
            var epochs = run.Run(recipe, dir, resume: DistillCheckpoint.Exists(dir), e => epochDone?.Invoke(recipe, e));
            records.Add(ToRecord(recipe, epochs, teachers));
        }
        return records;
    }

    /// <summary>A dense run as a report record: test mIoU in the test figure's place, no training accuracy, no feature weights.</summary>
    public static RunRecord ToRecord(DistillRecipe recipe, IReadOnlyList<DenseEpoch> epochs, IReadOnlyList<string> teachers) =>
        new(recipe.Strategy, (int)recipe.Seed, teachers,
            [.. epochs.Select(e => new EpochRecord(e.Epoch, e.Loss, double.NaN, e.TestMeanIoU, e.Seconds,
                recipe.Strategy == "none" ? [] : [.. e.MeanWl.Select(v => (double)v)], [], null))]);
}
