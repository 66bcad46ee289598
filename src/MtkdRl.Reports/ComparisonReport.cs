using System.Globalization;
using System.Text;
using System.Text.Json;
using MtkdRl.Core;

namespace MtkdRl.Reports;

/// <summary>
/// Writes a comparison as comparison.md, comparison.csv, comparison.json and PNG plots (accuracy per epoch,
/// mean teacher weights over training per strategy that weighs teachers, reward per epoch for the agents).
/// Every file goes through a temporary file and a rename, so a report is never half-written.
/// </summary>
public static class ComparisonReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Writes every file; returns their paths.</summary>
    public static IReadOnlyList<string> Write(string directory, Comparison comparison, string title, string? preface = null)
    {
        Directory.CreateDirectory(directory);
        var written = new List<string>();
        void Text(string name, string text)
        {
            string path = Path.Combine(directory, name);
            AtomicFile.WriteAllText(path, text);
            written.Add(path);
        }
        Text("comparison.md", Markdown(comparison, title, preface));
        Text("comparison.csv", Csv(comparison));
        Text("comparison.json", JsonSerializer.Serialize(comparison, new JsonSerializerOptions
        {
            WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        }));
        written.AddRange(ComparisonPlots.Write(directory, comparison));
        return written;
    }

    /// <summary>The table as markdown: mean ± std of the final test accuracy, the change against the baseline and its p-value.</summary>
    public static string Markdown(Comparison c, string title, string? preface = null)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"# {title}").AppendLine();
        if (preface is not null) sb.AppendLine(preface.TrimEnd()).AppendLine();
        sb.AppendLine($"| strategy | seeds | {c.MetricName} (mean ± std) | vs {c.Baseline} | Welch p | paired p | weight on best | epoch s |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in c.Rows.OrderByDescending(r => r.MeanAccuracy))
        {
            string delta = r.Strategy == c.Baseline || double.IsNaN(r.DeltaVsBaseline) ? "—" : $"{100 * r.DeltaVsBaseline:+0.00;-0.00;0.00} pt";
            sb.AppendLine(string.Create(Inv,
                $"| {r.Strategy} | {r.Seeds} | {100 * r.MeanAccuracy:0.00} ± {Std(r.StdAccuracy)} % | {delta} | {P(r.PValue)} | {P(r.PairedPValue)} | {OnBest(r.WeightOnBest)} | {r.MeanEpochSeconds:0.0} |"));
        }
        sb.AppendLine().AppendLine((c.Metric is null ? "Accuracy is the test accuracy" : $"The figure is the {c.Metric}") + " after the last epoch; Welch p is Welch's two-sided t-test against the baseline over seeds, "
            + "paired p the two-sided paired t-test over the seeds both ran (each seed's two runs share its initialisation and data order). "
            + "Weight on best: in the last epoch, the share of each row's logit weight on the teacher with the lowest cross-entropy on that row's label (1/K for aver, 1 for a perfect per-row choice).");
        sb.AppendLine().AppendLine($"Plots: accuracy.png ({c.MetricName} per epoch), weights-STRATEGY.png (mean logit weight per teacher), reward.png (agents' mean reward).");
        return sb.ToString();
    }

    private static string Optional(double? v) => v is { } x ? x.ToString("R", Inv) : "";

    private static string OnBest(double v) => double.IsNaN(v) ? "—" : v.ToString("0.00", Inv);

    public static string Csv(Comparison c)
    {
        var sb = new StringBuilder("strategy,seeds,mean_accuracy,std_accuracy,delta_vs_baseline,p_value,mean_epoch_seconds,weight_on_best,paired_p_value\n");
        foreach (var r in c.Rows)
            sb.AppendLine(string.Create(Inv,
                $"{r.Strategy},{r.Seeds},{r.MeanAccuracy:R},{r.StdAccuracy:R},{r.DeltaVsBaseline:R},{r.PValue:R},{r.MeanEpochSeconds:R},{r.WeightOnBest:R},{r.PairedPValue:R}"));
        sb.AppendLine().AppendLine("strategy,seed,epoch,train_loss,train_accuracy,test_accuracy,seconds,mean_reward,weight_on_best");
        foreach (var run in c.Runs)
        foreach (var e in run.Epochs)
            sb.AppendLine(string.Create(Inv,
                $"{run.Strategy},{run.Seed},{e.Epoch},{e.TrainLoss:R},{e.TrainAccuracy:R},{e.TestAccuracy:R},{e.Seconds:R},{Optional(e.MeanReward)},{Optional(e.WeightOnBest)}"));
        return sb.ToString();
    }

    private static string Std(double s) => double.IsNaN(s) ? "n/a" : (100 * s).ToString("0.00", Inv);

    private static string P(double p) => double.IsNaN(p) ? "—" : p < 1e-4 ? "< 1e-4" : p.ToString("0.0000", Inv);
}
