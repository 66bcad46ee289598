using MtkdRl.Strategies;

namespace MtkdRl.Tests.Strategies;

/// <summary>The last batch of an epoch is usually smaller; every strategy must take it, and the agents must learn from it.</summary>
public class BatchSizeTests
{
    [Theory]
    [InlineData("ca-mkd")]
    [InlineData("ebkd")]
    [InlineData(PaperAgent.CatalogName)]
    [InlineData(PpoAgent.CatalogName)]
    public void A_smaller_last_batch_is_weighted_and_learnt_from(string name)
    {
        const int k = 3;
        var options = new StrategyOptions
        {
            Classes = 3, EmbeddingWidths = [2, 2, 2],
            Paper = new PaperAgentConfig { Hidden = 8 },
            Ppo = new PpoConfig { RolloutRows = 40, RowsPerBatch = 16, MinibatchRows = 20 },
        };
        var s = StrategyCatalog.Create(name, k, options);
        var logs = new List<AgentUpdateLog>();
        for (int epoch = 0; epoch < 2; epoch++)
        {
            foreach (int b in new[] { 16, 16, 5 })
            {
                var world = new BanditWorld(b, k, 3, 2, (ulong)(b + epoch));
                world.Next();
                var (wl, wf) = (new float[b * k], new float[b * k]);
                s.Weights(world.Context.Full(), wl, wf);
                Assert.All(wl.Concat(wf), v => Assert.True(float.IsFinite(v) && v >= 0, $"{name}: weight {v}"));
                if (s.Learn(new LearnFeedback(world.Stats, default, 5f)) is { } log) logs.Add(log);
            }
            if (s.EndEpoch() is { } end) logs.Add(end);
        }
        if (s.IsAgent) Assert.NotEmpty(logs);
    }
}
