using MtkdRl.Reports;
using Xunit;

namespace MtkdRl.Tests.Reports;

public sealed class ComparisonReportTests
{
    /// <summary>Two-sided p of Student's t with df degrees of freedom, by Simpson integration of the density (independent of MathNet).</summary>
    private static double StudentTwoSidedP(double t, double df)
    {
        double LogGamma(double x) => MathNet.Numerics.SpecialFunctions.GammaLn(x);
        double c = Math.Exp(LogGamma((df + 1) / 2) - LogGamma(df / 2)) / Math.Sqrt(df * Math.PI);
        double Density(double x) => c * Math.Pow(1 + x * x / df, -(df + 1) / 2);
        int n = 200_000;
        double a = 0, b = Math.Abs(t), h = (b - a) / n, sum = Density(a) + Density(b);
        for (int i = 1; i < n; i++) sum += (i % 2 == 1 ? 4 : 2) * Density(a + i * h);
        double half = sum * h / 3;  // P(0 < T < |t|)
        return 1 - 2 * half;
    }

    [Fact]
    public void Welch_test_matches_its_formula_and_an_independent_t_tail()
    {
        double[] a = [1, 2, 3, 4, 5], b = [2, 4, 6, 8, 10];
        var (t, df, p) = WelchTest.TwoSided(a, b);
        // means 3 and 6, variances 2.5 and 10: t = -3 / sqrt(0.5 + 2), df = 2.5^2 / (0.5^2/4 + 2^2/4)
        Assert.Equal(-3 / Math.Sqrt(2.5), t, 12);
        Assert.Equal(6.25 / (0.0625 + 1.0), df, 12);
        Assert.Equal(StudentTwoSidedP(t, df), p, 6);
        Assert.InRange(p, 0.10, 0.11);
    }

    [Fact]
    public void Welch_test_is_undefined_without_spread_or_with_one_value()
    {
        Assert.True(double.IsNaN(WelchTest.TwoSided([1.0], [1.0, 2.0]).P));
        Assert.True(double.IsNaN(WelchTest.TwoSided([1.0, 1.0], [2.0, 2.0]).P));
    }

    private static RunRecord Run(string strategy, int seed, double finalAccuracy, double? reward = null, double? onBest = null)
    {
        var epochs = Enumerable.Range(1, 3).Select(e => new EpochRecord(e, 1.0 / e, 0.5 + 0.1 * e, finalAccuracy - 0.01 * (3 - e), 2.0,
            strategy == "none" ? [] : [0.6, 0.3, 0.1], strategy == "none" ? [] : [0.2, 0.3, 0.5], reward, onBest * e / 3)).ToList();
        return new RunRecord(strategy, seed, ["cnn-a", "mlp-b", "linear-c"], epochs);
    }

    [Fact]
    public void Comparison_rows_carry_mean_std_delta_and_p_against_the_baseline()
    {
        var runs = new[]
        {
            Run("aver", 1, 0.80), Run("aver", 2, 0.82), Run("aver", 3, 0.81),
            Run("mtkd-rl-ppo", 1, 0.85, 0.4), Run("mtkd-rl-ppo", 2, 0.86, 0.5), Run("mtkd-rl-ppo", 3, 0.84, 0.45),
            Run("none", 1, 0.75), Run("none", 2, 0.76), Run("none", 3, 0.74),
        };
        var c = Comparison.Build(runs);
        var ppo = c.Rows.Single(r => r.Strategy == "mtkd-rl-ppo");
        Assert.Equal(0.85, ppo.MeanAccuracy, 12);
        Assert.Equal(0.01, ppo.StdAccuracy, 12);
        Assert.Equal(0.04, ppo.DeltaVsBaseline, 12);
        Assert.Equal(WelchTest.TwoSided([0.85, 0.86, 0.84], [0.80, 0.82, 0.81]).P, ppo.PValue, 12);
        Assert.True(ppo.PValue < 0.05);
        Assert.True(double.IsNaN(c.Rows.Single(r => r.Strategy == "aver").PValue));
    }

    [Fact]
    public void The_baseline_is_the_one_asked_for_else_the_preferred_one_else_the_first_strategy()
    {
        string[] strategies = ["none", "aver", "mtkd-rl-ppo"];
        Assert.Equal("mtkd-rl-ppo", Comparison.ChooseBaseline(strategies, "mtkd-rl-ppo", "aver"));
        Assert.Equal("aver", Comparison.ChooseBaseline(strategies, null, "aver"));
        Assert.Equal("none", Comparison.ChooseBaseline(["ebkd", "none"], null, "none"));
        Assert.Equal("ebkd", Comparison.ChooseBaseline(["ebkd", "ca-mkd"], null, "aver"));
        var e = Assert.Throws<MtkdRl.Core.MtkdException>(() => Comparison.ChooseBaseline(strategies, "ebkd", "aver"));
        Assert.Equal("--baseline 'ebkd': not among --strategies (none, aver, mtkd-rl-ppo)", e.Message);
    }

    [Fact]
    public void Weight_on_best_is_the_last_epochs_mean_over_seeds_and_shows_in_the_markdown()
    {
        var runs = new[] { Run("aver", 1, 0.80, onBest: 1.0 / 3), Run("aver", 2, 0.82, onBest: 1.0 / 3), Run("mtkd-rl-ppo", 1, 0.85, 0.4, 0.6), Run("mtkd-rl-ppo", 2, 0.86, 0.5, 0.7), Run("none", 1, 0.75) };
        var c = Comparison.Build(runs);
        Assert.Equal(0.65, c.Rows.Single(r => r.Strategy == "mtkd-rl-ppo").WeightOnBest, 12);
        Assert.Equal(1.0 / 3, c.Rows.Single(r => r.Strategy == "aver").WeightOnBest, 12);
        Assert.True(double.IsNaN(c.Rows.Single(r => r.Strategy == "none").WeightOnBest));
        string md = ComparisonReport.Markdown(c, "t");
        Assert.Contains("| weight on best |", md);
        Assert.Contains("| 0.65 |", md);
        Assert.Contains("| none | 1 | 75.00 ± n/a % | -6.00 pt | — | — |", md);
    }

    [Fact]
    public void Report_writes_markdown_csv_json_and_png_plots_completely()
    {
        string dir = Path.Combine(Path.GetTempPath(), "mtkd-report-" + Guid.NewGuid().ToString("N"));
        try
        {
            var runs = new[] { Run("aver", 1, 0.80), Run("aver", 2, 0.82), Run("mtkd-rl-paper", 1, 0.83, 0.3), Run("mtkd-rl-paper", 2, 0.81, 0.35), Run("none", 1, 0.7) };
            var files = ComparisonReport.Write(dir, Comparison.Build(runs), "test comparison");
            var names = files.Select(Path.GetFileName).ToHashSet();
            Assert.Superset(new HashSet<string?> { "comparison.md", "comparison.csv", "comparison.json", "accuracy.png", "reward.png", "weights-aver.png", "weights-mtkd-rl-paper.png" }, names);
            Assert.DoesNotContain("weights-none.png", names);
            foreach (var png in files.Where(f => f.EndsWith(".png")))
            {
                var bytes = File.ReadAllBytes(png);
                Assert.True(bytes.Length > 1000 && bytes[1] == 'P' && bytes[2] == 'N' && bytes[3] == 'G', $"{png} is not a PNG");
            }
            string md = File.ReadAllText(Path.Combine(dir, "comparison.md"));
            Assert.Contains("| mtkd-rl-paper | 2 | 82.00 ± 1.41 % | +1.00 pt |", md);
            Assert.Contains("| none | 1 | 70.00 ± n/a % | -11.00 pt | — |", md);
            var csv = File.ReadAllLines(Path.Combine(dir, "comparison.csv"));
            Assert.Equal("strategy,seeds,mean_accuracy,std_accuracy,delta_vs_baseline,p_value,mean_epoch_seconds,weight_on_best,paired_p_value", csv[0]);
            int blank = Array.IndexOf(csv, "");
            Assert.Equal(3, csv[1..blank].Count(l => l.Split(',').Length == 9));
            Assert.Equal("strategy,seed,epoch,train_loss,train_accuracy,test_accuracy,seconds,mean_reward,weight_on_best", csv[blank + 1]);
            Assert.Equal(5 * 3, csv[(blank + 2)..].Count(l => l.Split(',').Length == 9));
            Assert.Empty(Directory.GetFiles(dir, "*.tmp*"));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }
}
