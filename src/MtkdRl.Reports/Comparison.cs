namespace MtkdRl.Reports;

/// <summary>One strategy's line of the comparison table.</summary>
/// <param name="PValue">Welch two-sided p-value of the mean accuracy against the baseline (NaN for the baseline itself, or too few seeds).</param>
/// <param name="WeightOnBest">Mean over seeds of the last epoch's share of each row's logit weight on the row's most
/// competent teacher (NaN when the runs do not record it, e.g. `none`).</param>
/// <param name="PairedPValue">Paired t-test two-sided p-value against the baseline over the seeds both ran, each seed's two
/// runs paired (NaN for the baseline itself, or fewer than two common seeds).</param>
public sealed record ComparisonRow(
    string Strategy, int Seeds, double MeanAccuracy, double StdAccuracy, double DeltaVsBaseline, double PValue,
    double MeanEpochSeconds, double WeightOnBest = double.NaN, double PairedPValue = double.NaN);

/// <summary>Every strategy x seed summarised against a baseline strategy (`aver` by default).</summary>
public sealed record Comparison(string Baseline, IReadOnlyList<ComparisonRow> Rows, IReadOnlyList<RunRecord> Runs)
{
    /// <summary>The name of the figure the runs record as their test accuracy (e.g. "test mIoU"); null: test accuracy.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Metric { get; init; }

    /// <summary>The ranked figure's name in reports.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string MetricName => Metric ?? "test accuracy";

    /// <summary>
    /// The strategy a comparison ranks the others against: <paramref name="requested"/> when given (it must be one of
    /// <paramref name="strategies"/>), else <paramref name="preferred"/> when it runs, else the first strategy.
    /// </summary>
    public static string ChooseBaseline(IReadOnlyList<string> strategies, string? requested, string preferred)
    {
        if (requested is not null)
            return strategies.Contains(requested) ? requested
                : throw new MtkdRl.Core.MtkdException($"--baseline '{requested}': not among --strategies ({string.Join(", ", strategies)})");
        return strategies.Contains(preferred) ? preferred : strategies[0];
    }

    /// <summary>The same comparison over runs whose test figure is <paramref name="metric"/> (e.g. "test mIoU").</summary>
    public static Comparison Build(IReadOnlyList<RunRecord> runs, string baseline, string? metric) => Build(runs, baseline) with { Metric = metric };

    public static Comparison Build(IReadOnlyList<RunRecord> runs, string baseline = "aver")
    {
        var byStrategy = runs.GroupBy(r => r.Strategy).ToList();
        var baseRuns = runs.Where(r => r.Strategy == baseline).ToList();
        var baseAcc = baseRuns.Select(r => r.FinalTestAccuracy).ToList();
        double baseMean = baseAcc.Count > 0 ? baseAcc.Average() : double.NaN;
        var rows = byStrategy.Select(g =>
        {
            var acc = g.Select(r => r.FinalTestAccuracy).ToList();
            var (mean, variance) = WelchTest.MeanVariance(acc);
            double p = g.Key == baseline ? double.NaN : WelchTest.TwoSided(acc, baseAcc).P;
            double paired = g.Key == baseline ? double.NaN : PairedTTest.BySeed(g, baseRuns);
            var onBest = g.Select(r => r.Epochs.Count > 0 ? r.Epochs[^1].WeightOnBest : null).ToList();
            double weightOnBest = onBest.All(v => v is not null) ? onBest.Average(v => v!.Value) : double.NaN;
            return new ComparisonRow(g.Key, acc.Count, mean, acc.Count > 1 ? Math.Sqrt(variance) : double.NaN, mean - baseMean, p,
                g.Average(r => r.MeanEpochSeconds), weightOnBest, paired);
        }).ToList();
        return new Comparison(baseline, rows, runs);
    }
}
