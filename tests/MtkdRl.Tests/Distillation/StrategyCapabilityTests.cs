using System.Text.Json;
using MtkdRl.Distillation;
using MtkdRl.Strategies;
using Xunit;

namespace MtkdRl.Tests.Distillation;

/// <summary>
/// The distillation loop drives strategies the catalog does not know, by their capabilities alone: a test-only
/// strategy under a name of its own runs end to end through DistillTrainer.
/// </summary>
public sealed class StrategyCapabilityTests(DistillPoolFixture pool) : IClassFixture<DistillPoolFixture>
{
    private DistillTrainer Trainer() => pool.Trainer();

    private static DistillRecipe Recipe(string strategy) => DistillPoolFixture.Recipe(strategy, epochs: 1);

    /// <summary>A configurable strategy that records what the loop gives it.</summary>
    private sealed class ProbingStrategy(int k, string name) : IWeightingStrategy
    {
        public string Name { get; } = name;
        public int K { get; } = k;
        public bool IsAgent => true;
        public bool UsesTeachers { get; init; } = true;
        public bool NeedsStats { get; init; } = true;
        public bool NeedsTeacherOutputs => false;
        public bool NeedsProbeLoss { get; init; }

        /// <summary>Report a log every this many batches (0: never).</summary>
        public int LogEvery { get; init; }

        public int WeightsCalls, LearnCalls;
        public bool RowsWereIdentity = true;
        public readonly List<double> ReportedRewards = [];
        public readonly List<double> ProbeBefore = [];

        public void Weights(in WeightingContext context, Span<float> wl, Span<float> wf)
        {
            WeightsCalls++;
            int b = context.Stats.Shape.B;
            RowsWereIdentity &= context.Rows.IsIdentity && context.Rows.Rows == b;
            // Weight teacher 0 three times teacher 1 (K = 2 in the pool).
            for (int r = 0; r < b; r++) { wl[r * K] = 0.75f; wl[r * K + 1] = 0.25f; }
            wl[..(b * K)].CopyTo(wf);
        }

        public AgentUpdateLog? Learn(in LearnFeedback feedback)
        {
            LearnCalls++;
            RowsWereIdentity &= feedback.Rows.IsIdentity && feedback.Rows.Rows == feedback.Stats.Shape.B;
            ProbeBefore.Add(feedback.ProbeLossBefore);
            if (LogEvery == 0 || LearnCalls % LogEvery != 0) return null;
            double reward = 0.01 * LearnCalls;
            ReportedRewards.Add(reward);
            return new TestLog(LearnCalls, reward);
        }

        public AgentUpdateLog? EndEpoch() => null;
        public StrategyState Export() => new(Name) { RngState = [1, 2, 3, 4] };
        public void Import(StrategyState state) => state.CheckStrategy(Name);
    }

    private sealed record TestLog(long Update, double Reward) : AgentUpdateLog("test-agent", Update)
    {
        public override IEnumerable<KeyValuePair<string, double>> MetricFields() =>
            [new(MeanRewardField, Reward), new("test_signal", 2 * Reward)];
    }

    [Fact]
    public void A_strategy_that_does_not_use_the_teachers_trains_the_student_alone_whatever_its_name()
    {
        var alone = Trainer().Run(Recipe("none"), pool.NewRunDir(), resume: false).Metrics[0];
        ProbingStrategy? built = null;
        var custom = Trainer().Run(Recipe("aver"), (k, _) => built = new ProbingStrategy(k, "test-alone") { UsesTeachers = false, NeedsStats = false },
            pool.NewRunDir(), resume: false).Metrics[0];
        Assert.Equal(0, built!.WeightsCalls);
        Assert.True(built.LearnCalls > 0);
        Assert.Equal(alone.Loss, custom.Loss);
        Assert.Equal(alone.TestAcc, custom.TestAcc);
        Assert.All(custom.MeanWl, w => Assert.Equal(0f, w));
        Assert.Null(custom.WlOnBest);
    }

    [Fact]
    public void A_strategy_unknown_to_the_catalog_gets_statistics_rows_and_its_metric_fields_reach_the_metrics_line()
    {
        string dir = pool.NewRunDir();
        ProbingStrategy? built = null;
        var outcome = Trainer().Run(Recipe("aver"), (k, _) => built = new ProbingStrategy(k, "test-agent") { LogEvery = 5 }, dir, resume: false);
        var m = Assert.Single(outcome.Metrics);
        Assert.Equal(built!.LearnCalls, built.WeightsCalls);
        Assert.True(built.RowsWereIdentity, "classification rows are their own samples");
        Assert.All(built.ProbeBefore, p => Assert.True(double.IsNaN(p)));
        Assert.Equal([0.75f, 0.25f], m.MeanWl);
        Assert.NotEmpty(built.ReportedRewards);
        Assert.Equal(built.ReportedRewards.Average(), m.MeanReward!.Value, 12);
        var line = JsonDocument.Parse(File.ReadLines(Path.Combine(dir, "metrics.jsonl")).Single()).RootElement;
        Assert.Equal(2 * built.ReportedRewards.Average(), line.GetProperty("test_signal").GetDouble(), 12);
        Assert.Equal(built.ReportedRewards.Count, File.ReadAllLines(Path.Combine(dir, "agent.jsonl")).Length);
    }

    [Fact]
    public void A_strategy_that_needs_the_probe_loss_gets_a_probe_batch()
    {
        ProbingStrategy? built = null;
        Trainer().Run(Recipe("aver") with { ProbeRows = 40 }, (k, _) => built = new ProbingStrategy(k, "test-probe") { NeedsProbeLoss = true },
            pool.NewRunDir(), resume: false);
        Assert.NotEmpty(built!.ProbeBefore);
        Assert.All(built.ProbeBefore, p => Assert.True(double.IsFinite(p) && p > 0, $"probe loss {p}"));
    }
}
