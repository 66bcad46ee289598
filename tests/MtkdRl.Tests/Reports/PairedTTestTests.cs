using MtkdRl.Reports;
using Xunit;

namespace MtkdRl.Tests.Reports;

public sealed class PairedTTestTests
{
    // With 2 degrees of freedom Student's t has the closed-form CDF 1/2 + t / (2 sqrt(t^2 + 2)), so a two-sided p
    // of three pairs is 1 - |t| / sqrt(t^2 + 2), computed here by hand.
    private static double TwoSidedPWithTwoDegrees(double t) => 1 - Math.Abs(t) / Math.Sqrt(t * t + 2);

    [Fact]
    public void Paired_test_on_three_pairs_matches_the_closed_form()
    {
        // differences 1, 2, 3: mean 2, standard deviation 1, t = 2 / (1 / sqrt 3) = 2 sqrt 3
        var (t, df, p) = PairedTTest.TwoSided([11.0, 12, 13], [10.0, 10, 10]);
        Assert.Equal(2 * Math.Sqrt(3), t, 12);
        Assert.Equal(2, df);
        Assert.Equal(TwoSidedPWithTwoDegrees(2 * Math.Sqrt(3)), p, 9);
        Assert.Equal(0.0741799, p, 6);
        Assert.Equal(p, PairedTTest.TwoSided([10.0, 10, 10], [11.0, 12, 13]).P, 12);
    }

    [Fact]
    public void Paired_test_sees_a_lead_the_seeds_share_where_welch_does_not()
    {
        // the seed moves both strategies by 4 points; the lead is 0.5 to 0.7 on every seed
        double[] rule = [40, 44, 48, 42, 46], agent = [40.6, 44.5, 48.7, 42.6, 46.5];
        Assert.True(WelchTest.TwoSided(agent, rule).P > 0.5);
        Assert.True(PairedTTest.TwoSided(agent, rule).P < 1e-3);
    }

    [Fact]
    public void Paired_test_is_undefined_without_spread_or_with_one_pair_and_refuses_unequal_sides()
    {
        Assert.True(double.IsNaN(PairedTTest.TwoSided([1.0], [2.0]).P));
        Assert.True(double.IsNaN(PairedTTest.TwoSided([3.0, 4.0], [2.0, 3.0]).P));
        Assert.Throws<ArgumentException>(() => PairedTTest.TwoSided([1.0, 2.0], [1.0]));
    }

    private static RunRecord Run(string strategy, int seed, double finalAccuracy) =>
        new(strategy, seed, ["a", "b"], [new EpochRecord(1, 1.0, 0.5, finalAccuracy, 1.0, [0.5, 0.5], [0.5, 0.5], null)]);

    [Fact]
    public void Comparison_pairs_runs_by_seed_not_by_order_and_over_the_seeds_both_ran()
    {
        // ppo's runs arrive in seed order 3, 1, 2; aver ran seeds 1-4. Paired by seed the differences are 0.05, 0.01
        // and 0.05 (seed 4 has no ppo run): mean 0.11/3, standard deviation 0.04/sqrt 3, t = 2.75. Paired by position
        // they would be 0.06, 0.03, 0.02 (t = 3.05).
        var runs = new[]
        {
            Run("aver", 1, 0.80), Run("aver", 2, 0.82), Run("aver", 3, 0.81), Run("aver", 4, 0.70),
            Run("mtkd-rl-ppo", 3, 0.86), Run("mtkd-rl-ppo", 1, 0.85), Run("mtkd-rl-ppo", 2, 0.83),
        };
        var c = Comparison.Build(runs);
        var ppo = c.Rows.Single(r => r.Strategy == "mtkd-rl-ppo");
        Assert.Equal(TwoSidedPWithTwoDegrees(2.75), ppo.PairedPValue, 9);
        Assert.NotEqual(TwoSidedPWithTwoDegrees(PairedTTest.TwoSided([0.86, 0.85, 0.83], [0.80, 0.82, 0.81]).T), ppo.PairedPValue, 3);
        Assert.True(double.IsNaN(c.Rows.Single(r => r.Strategy == "aver").PairedPValue));

        string md = ComparisonReport.Markdown(c, "t");
        Assert.Contains("| Welch p | paired p |", md);
        Assert.Contains(ppo.PairedPValue.ToString("0.0000", System.Globalization.CultureInfo.InvariantCulture), md);
        var csv = ComparisonReport.Csv(c).Split('\n');
        Assert.EndsWith(",paired_p_value", csv[0]);
        Assert.EndsWith(ppo.PairedPValue.ToString("R", System.Globalization.CultureInfo.InvariantCulture), csv.TakeWhile(l => l.Length > 0).Single(l => l.StartsWith("mtkd-rl-ppo,3,")));
    }
}
