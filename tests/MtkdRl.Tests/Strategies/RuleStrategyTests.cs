using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Strategies;

namespace MtkdRl.Tests.Strategies;

public class RuleStrategyTests
{
    private static (float[] Wl, float[] Wf) Run(IWeightingStrategy s, DistillStats stats)
    {
        int n = stats.Shape.B * stats.Shape.K;
        var wl = new float[n];
        var wf = new float[n];
        s.Weights(new WeightingContext(stats), wl, wf);
        return (wl, wf);
    }

    private static DistillStats TwoRows()
    {
        var stats = new DistillStats(new DistillShape(2, 3, 4, 2));
        // Row 0: teacher 0 confident and right; row 1: all teachers equal.
        float[] ceT = [0.1f, 1.0f, 2.0f, 0.5f, 0.5f, 0.5f];
        float[] ht = [0.2f, 0.6f, 1.2f, 0f, 0f, 0f];
        ceT.CopyTo(stats.CeT, 0);
        ht.CopyTo(stats.Ht, 0);
        return stats;
    }

    [Fact]
    public void Ca_mkd_matches_hand_computed_values()
    {
        var stats = TwoRows();
        var (wl, wf) = Run(StrategyCatalog.Create("ca-mkd", 3), stats);
        double[] e = [Math.Exp(0.1), Math.Exp(1.0), Math.Exp(2.0)];
        double z = e.Sum();
        for (int k = 0; k < 3; k++)
        {
            double expected = (1 - e[k] / z) / 2;
            Assert.Equal(expected, wl[k], 6);
            Assert.Equal(expected, wf[k], 6);
            Assert.Equal(1.0 / 3, wl[3 + k], 6);
        }
        Assert.True(wl[0] > wl[1] && wl[1] > wl[2], "the most confident teacher must get the most weight");
    }

    [Fact]
    public void Ebkd_matches_hand_computed_values_and_sums_to_k_minus_one()
    {
        var stats = TwoRows();
        var (wl, wf) = Run(StrategyCatalog.Create("ebkd", 3), stats);
        Assert.Equal(1 - 0.2 / 2.0, wl[0], 6);
        Assert.Equal(1 - 0.6 / 2.0, wl[1], 6);
        Assert.Equal(1 - 1.2 / 2.0, wl[2], 6);
        Assert.Equal(2.0, wl[0] + wl[1] + wl[2], 5);
        // Every teacher certain: no entropy to compare, so 1 - 1/K each (the row still sums to K-1).
        for (int k = 3; k < 6; k++) Assert.Equal(2.0 / 3, wl[k], 6);
        Assert.Equal(wl, wf);
    }

    [Fact]
    public void Ebkd_with_unit_rows_is_the_same_ranking_scaled_to_sum_one()
    {
        var stats = TwoRows();
        var (wl, wf) = Run(StrategyCatalog.Create("ebkd", 3, new StrategyOptions { UnitRows = true }), stats);
        Assert.Equal((1 - 0.2 / 2.0) / 2, wl[0], 6);
        Assert.Equal((1 - 0.6 / 2.0) / 2, wl[1], 6);
        Assert.Equal((1 - 1.2 / 2.0) / 2, wl[2], 6);
        Assert.Equal(1.0, wl[0] + wl[1] + wl[2], 5);
        for (int k = 3; k < 6; k++) Assert.Equal(1.0 / 3, wl[k], 6);
        Assert.Equal(wl, wf);
    }

    [Fact]
    public void Aver_fixed_and_none_give_their_constants()
    {
        var stats = TwoRows();
        var (aver, _) = Run(StrategyCatalog.Create("aver", 3), stats);
        Assert.All(aver, v => Assert.Equal(1f / 3, v));
        var (fixedW, fixedF) = Run(StrategyCatalog.Create("fixed", 3, new StrategyOptions { FixedWeights = "1, 2,1" }), stats);
        Assert.Equal([0.25f, 0.5f, 0.25f, 0.25f, 0.5f, 0.25f], fixedW);
        Assert.Equal(fixedW, fixedF);
        var (none, noneF) = Run(StrategyCatalog.Create("none", 3), stats);
        Assert.All(none.Concat(noneF), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Single_teacher_gets_the_whole_weight()
    {
        var stats = new DistillStats(new DistillShape(3, 1, 4, 2));
        stats.CeT.AsSpan().Fill(0.7f);
        stats.Ht.AsSpan().Fill(0.9f);
        foreach (var name in new[] { "aver", "ca-mkd", "ebkd" })
        {
            var (wl, wf) = Run(StrategyCatalog.Create(name, 1), stats);
            Assert.All(wl.Concat(wf), v => Assert.Equal(1f, v));
        }
    }

    [Theory]
    [InlineData("none", 0.0)]
    [InlineData("aver", 1.0)]
    [InlineData("fixed", 1.0)]
    [InlineData("ca-mkd", 1.0)]
    [InlineData("ebkd", 4.0)]
    [InlineData("mtkd-rl-ppo", 1.0)]
    public void Rows_sum_as_documented(string name, double expected)
    {
        var world = new BanditWorld(16, 5, 4, 3, 11);
        world.Next();
        var options = new StrategyOptions { FixedWeights = "1,0,3,2,2", Classes = 4, EmbeddingWidths = [3, 3, 3, 3, 3] };
        var (wl, wf) = Run(StrategyCatalog.Create(name, 5, options), world.Stats);
        for (int r = 0; r < 16; r++)
        {
            Assert.Equal(expected, wl.AsSpan(r * 5, 5).ToArray().Sum(), 5);
            Assert.Equal(expected, wf.AsSpan(r * 5, 5).ToArray().Sum(), 5);
        }
    }

    [Theory]
    [InlineData("softmax", null, "unknown strategy 'softmax'")]
    [InlineData("fixed", null, "weights are missing")]
    [InlineData("fixed", "1,2", "2 weights given for K=3")]
    [InlineData("fixed", "1,-1,1", "weight 2 ('-1') must be a finite number >= 0")]
    [InlineData("fixed", "1,NaN,1", "weight 2 ('NaN')")]
    [InlineData("fixed", "1,x,1", "weight 2 ('x')")]
    [InlineData("fixed", "0,0,0", "weights sum to 0")]
    [InlineData("mtkd-rl-paper", null, "needs the class count")]
    public void Bad_names_and_weights_give_one_line_errors(string name, string? weights, string expected)
    {
        var e = Assert.Throws<MtkdInputException>(() => StrategyCatalog.Create(name, 3, new StrategyOptions { FixedWeights = weights }));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Wrong_teacher_count_and_foreign_state_are_refused()
    {
        var s = StrategyCatalog.Create("ca-mkd", 4);
        var stats = TwoRows();
        Assert.Throws<MtkdInputException>(() => s.Weights(new WeightingContext(stats), new float[6], new float[6]));
        var e = Assert.Throws<MtkdInputException>(() => s.Import(new StrategyState("ebkd")));
        Assert.Contains("belongs to 'ebkd'", e.Message);
    }

    [Fact]
    public void Only_the_agents_are_agents()
    {
        var options = new StrategyOptions { FixedWeights = "1,1", Classes = 3, EmbeddingWidths = [2, 2] };
        foreach (var name in StrategyCatalog.Names)
        {
            var s = StrategyCatalog.Create(name, 2, options);
            Assert.Equal(name, s.Name);
            Assert.Equal(name.StartsWith("mtkd-rl"), s.IsAgent);
            Assert.Equal(name is "none" or "aver" or "fixed", !s.NeedsStats);
        }
    }
}
