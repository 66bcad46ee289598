namespace MtkdRl.Reports;

/// <summary>The comparison as text cells for a console table, best mean accuracy first.</summary>
public static class ComparisonRows
{
    public static IReadOnlyList<string> Header(Comparison c) =>
        ["strategy", "seeds", $"{c.Metric ?? "test acc"} (mean ± std)", $"vs {c.Baseline}", "Welch p", "paired p", "weight on best", "train s/epoch"];

    public static IEnumerable<IReadOnlyList<string>> Cells(Comparison c)
    {
        foreach (var r in c.Rows.OrderByDescending(r => r.MeanAccuracy))
        {
            string std = double.IsNaN(r.StdAccuracy) ? "n/a" : $"{100 * r.StdAccuracy:F2}";
            string delta = r.Strategy == c.Baseline || double.IsNaN(r.DeltaVsBaseline) ? "-" : $"{100 * r.DeltaVsBaseline:+0.00;-0.00;0.00} pt";
            string onBest = double.IsNaN(r.WeightOnBest) ? "-" : $"{r.WeightOnBest:F2}";
            yield return [r.Strategy, $"{r.Seeds}", $"{100 * r.MeanAccuracy:F2} ± {std} %", delta, P(r.PValue), P(r.PairedPValue), onBest, $"{r.MeanEpochSeconds:F2}"];
        }
    }

    private static string P(double p) => double.IsNaN(p) ? "-" : p < 1e-4 ? "< 1e-4" : $"{p:F4}";
}
