using MtkdRl.Reports;
using Spectre.Console;

namespace MtkdRl.Cli.Distill;

/// <summary>The comparison as a console table, best mean accuracy first.</summary>
public static class ComparisonTable
{
    public static Table Render(Comparison c, string title)
    {
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(title));
        table.AddColumns("strategy", "seeds", "test acc (mean ± std)", $"vs {c.Baseline}", "Welch p", "weight on best", "train s/epoch");
        for (int i = 1; i < 7; i++) table.Columns[i].RightAligned();
        foreach (var r in c.Rows.OrderByDescending(r => r.MeanAccuracy))
        {
            string std = double.IsNaN(r.StdAccuracy) ? "n/a" : $"{100 * r.StdAccuracy:F2}";
            string delta = r.Strategy == c.Baseline || double.IsNaN(r.DeltaVsBaseline) ? "-" : $"{100 * r.DeltaVsBaseline:+0.00;-0.00;0.00} pt";
            string p = double.IsNaN(r.PValue) ? "-" : r.PValue < 1e-4 ? "< 1e-4" : $"{r.PValue:F4}";
            string onBest = double.IsNaN(r.WeightOnBest) ? "-" : $"{r.WeightOnBest:F2}";
            table.AddRow(Markup.Escape(r.Strategy), $"{r.Seeds}", $"{100 * r.MeanAccuracy:F2} ± {std} %", delta, p, onBest, $"{r.MeanEpochSeconds:F2}");
        }
        return table;
    }
}
