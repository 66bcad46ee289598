using MtkdRl.Core;
using ScottPlot;

namespace MtkdRl.Reports;

/// <summary>PNG plots of a comparison (ScottPlot): means over seeds, epoch on the x axis.</summary>
public static class ComparisonPlots
{
    private const int Width = 900, Height = 520;

    public static IReadOnlyList<string> Write(string directory, Comparison comparison)
    {
        var written = new List<string>();
        var strategies = comparison.Runs.GroupBy(r => r.Strategy).ToList();

        var accuracy = new Plot();
        foreach (var g in strategies)
        {
            var (epochs, mean) = MeanPerEpoch(g, e => e.TestAccuracy * 100);
            if (epochs.Length == 0) continue;
            accuracy.Add.Scatter(epochs, mean).LegendText = g.Key;
        }
        accuracy.Title(comparison.Metric is null ? "Test accuracy per epoch (mean over seeds)" : $"{comparison.Metric} per epoch (mean over seeds)");
        accuracy.XLabel("epoch");
        accuracy.YLabel($"{comparison.MetricName} %");
        accuracy.ShowLegend(Alignment.LowerRight);
        written.Add(Save(accuracy, directory, "accuracy.png"));

        foreach (var g in strategies)
        {
            var runs = g.ToList();
            int k = runs[0].Teachers.Count;
            if (k == 0 || runs.All(r => r.Epochs.All(e => e.MeanLogitWeight.Count == 0))) continue;
            var weights = new Plot();
            for (int t = 0; t < k; t++)
            {
                int teacher = t;
                var (epochs, mean) = MeanPerEpoch(runs, e => e.MeanLogitWeight.Count > teacher ? e.MeanLogitWeight[teacher] : double.NaN);
                if (epochs.Length == 0) continue;
                weights.Add.Scatter(epochs, mean).LegendText = runs[0].Teachers[teacher];
            }
            weights.Title($"{g.Key}: mean logit weight per teacher");
            weights.XLabel("epoch");
            weights.YLabel("mean wl");
            weights.ShowLegend(Alignment.UpperRight);
            written.Add(Save(weights, directory, $"weights-{Safe(g.Key)}.png"));
        }

        var reward = new Plot();
        bool anyReward = false;
        foreach (var g in strategies)
        {
            var (epochs, mean) = MeanPerEpoch(g, e => e.MeanReward ?? double.NaN);
            if (epochs.Length == 0) continue;
            anyReward = true;
            reward.Add.Scatter(epochs, mean).LegendText = g.Key;
        }
        if (anyReward)
        {
            reward.Title("Mean reward per epoch (agents)");
            reward.XLabel("epoch");
            reward.YLabel("reward");
            reward.ShowLegend(Alignment.LowerRight);
            written.Add(Save(reward, directory, "reward.png"));
        }
        return written;
    }

    /// <summary>Per epoch, the mean over runs of a value; epochs where every run gives NaN are left out.</summary>
    private static (double[] Epochs, double[] Mean) MeanPerEpoch(IEnumerable<RunRecord> runs, Func<EpochRecord, double> value)
    {
        var points = runs.SelectMany(r => r.Epochs).GroupBy(e => e.Epoch).OrderBy(g => g.Key)
            .Select(g => (g.Key, Values: g.Select(value).Where(double.IsFinite).ToList()))
            .Where(p => p.Values.Count > 0).ToList();
        return (points.Select(p => (double)p.Key).ToArray(), points.Select(p => p.Values.Average()).ToArray());
    }

    private static string Save(Plot plot, string directory, string name)
    {
        string path = Path.Combine(directory, name);
        AtomicFile.WriteAllBytes(path, plot.GetImageBytes(Width, Height, ImageFormat.Png));
        return path;
    }

    private static string Safe(string name) => string.Concat(name.Select(c => char.IsLetterOrDigit(c) || c == '-' ? c : '-'));
}
