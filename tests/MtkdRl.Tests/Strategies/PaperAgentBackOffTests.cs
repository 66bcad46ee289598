using Xunit.Abstractions;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Strategies;

namespace MtkdRl.Tests.Strategies;

/// <summary>The paper agent's labels gate (<c>--back-off</c>): off by default, learns to back off useless teachers and stays on strong ones.</summary>
public class PaperAgentBackOffTests(ITestOutputHelper output)
{
    private const float Beta = 5f;

    private static PaperAgent Create(int k, bool backOff, int hidden = 16, ulong seed = 3) =>
        (PaperAgent)StrategyCatalog.Create(PaperAgent.CatalogName, k, new StrategyOptions
        {
            Classes = 3, EmbeddingWidths = Enumerable.Repeat(2, k).ToArray(), Seed = seed,
            Paper = new PaperAgentConfig { Hidden = hidden, BackOff = backOff, ReplayEveryBatches = 25 },
        });

    /// <summary>
    /// Useless teachers (every CEt above the student's CEs, as random logits are): the gate must take most of each row.
    /// Strong teachers (every CEt far below CEs): it must give the rows back to them.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void With_back_off_the_agent_backs_off_useless_teachers_and_stays_on_strong_ones(bool useless)
    {
        const int b = 64, k = 4, batches = 300, window = 20;
        var world = new BanditWorld(b, k, 3, 2, 17);
        var agent = Create(k, backOff: true);
        var wl = new float[b * k];
        var wf = new float[b * k];
        double start = 0, end = 0;
        for (int i = 0; i < batches; i++)
        {
            world.Next();
            for (int j = 0; j < b * k; j++)
                world.Stats.CeT[j] = useless ? 2.3f + 0.5f * world.Rng.NextSingle() : 0.05f + 0.35f * world.Rng.NextSingle();
            for (int r = 0; r < b; r++) world.Stats.CeS[r] = useless ? 0.3f + 0.4f * world.Rng.NextSingle() : 0.5f + 1.5f * world.Rng.NextSingle();
            agent.Weights(world.Context.Full(), wl, wf);
            double labels = agent.LastGate(b).Average();
            if (i == 0) start = labels;
            if (i >= batches - window) end += labels / window;
            if (i >= 50)
            {
                // From the second epoch the mixed weights sum to one per row, so what the row gives its teachers is 1 - g.
                for (int r = 0; r < b; r++) Assert.Equal(1 - agent.LastGate(b)[r], wl.AsSpan(r * k, k).ToArray().Sum(), 4);
            }
            agent.Learn(new LearnFeedback(world.Stats, default, Beta));
            if (i % 50 == 49) agent.EndEpoch();
        }
        output.WriteLine($"{(useless ? "useless" : "strong")} pool: labels share {start:F3} -> {end:F3}");
        Assert.InRange(start, 0.1, 0.35); // one share of K+1 = 0.2 before any learning
        if (useless) Assert.True(end >= 0.9, $"labels share only {end:F3} on useless teachers");
        else Assert.True(end <= 0.05, $"labels share {end:F3} on strong teachers");
    }

    /// <summary>One gate step against float64: bg += rate mean A, wg += rate mean((A - mean A) h) / (mean |h|^2 + 1), A = min_k CEt - CEs.</summary>
    [Fact]
    public void The_gate_step_matches_a_float64_reference()
    {
        const int b = 24, k = 3, hidden = 8;
        var world = new BanditWorld(b, k, 3, 2, 6);
        var agent = Create(k, backOff: true, hidden: hidden);
        var wl = new float[b * k];
        var wf = new float[b * k];
        // A second-epoch batch, so the weights come from the heads and the gate is not uniform over teachers.
        for (int i = 0; i < 3; i++) { world.Next(); agent.Weights(world.Context.Full(), wl, wf); agent.Learn(new LearnFeedback(world.Stats, default, Beta)); }
        agent.EndEpoch();
        world.Next();
        int[] labels = Enumerable.Range(0, b).Select(r => r % 7 == 3 ? -1 : 0).ToArray(); // some rows not counted
        agent.Weights(new WeightingContext(world.Stats, labels, world.Embeddings, world.Logits), wl, wf);
        var before = agent.Gate.Select(v => (double)v).ToArray();
        var state = agent.LastStored.State;
        int s = agent.StateWidth;
        var h = new double[b, hidden];
        for (int r = 0; r < b; r++)
            for (int j = 0; j < hidden; j++)
            {
                double u = 0;
                for (int i = 0; i < s; i++) u += (double)agent.W1[j * s + i] * state[r * s + i];
                h[r, j] = Math.Max(0, u);
            }
        var a = new double[b];
        int n = 0;
        double mean = 0, norm = 0;
        for (int r = 0; r < b; r++)
        {
            if (labels[r] < 0) continue;
            a[r] = Enumerable.Range(0, k).Min(t => (double)world.Stats.CeT[r * k + t]) - world.Stats.CeS[r];
            mean += a[r];
            n++;
        }
        mean /= n;
        for (int r = 0; r < b; r++) if (labels[r] >= 0) for (int j = 0; j < hidden; j++) norm += h[r, j] * h[r, j];
        double rate = new PaperAgentConfig().LabelsGateRate, scale = rate / (n * (norm / n + 1));
        agent.Learn(new LearnFeedback(world.Stats, labels, Beta));
        for (int j = 0; j < hidden; j++)
        {
            double expected = before[j];
            for (int r = 0; r < b; r++) if (labels[r] >= 0) expected += scale * (a[r] - mean) * h[r, j];
            Assert.Equal(expected, agent.Gate[j], 1e-4 * (1 + Math.Abs(expected)));
        }
        Assert.Equal(before[hidden] + rate * mean, agent.Gate[hidden], 1e-5);
        Assert.NotEqual(before[hidden], (double)agent.Gate[hidden]);
    }

    [Fact]
    public void Without_back_off_the_agent_has_no_gate_and_checkpoints_do_not_mix()
    {
        var off = Create(3, backOff: false);
        var on = Create(3, backOff: true);
        Assert.Empty(off.Gate);
        Assert.Equal(off.ParameterCount + 16 + 1, on.ParameterCount);
        Assert.DoesNotContain("labels_gate", off.Export().Arrays.Keys);
        Assert.Contains("labels gate", Assert.Throws<MtkdInputException>(() => off.Import(on.Export())).Message);
        Assert.Contains("labels gate", Assert.Throws<MtkdInputException>(() => on.Import(off.Export())).Message);
    }

    [Fact]
    public void With_back_off_export_import_continues_bit_identically()
    {
        const int b = 16, k = 3;
        var world = new BanditWorld(b, k, 3, 2, 8);
        var first = Create(k, backOff: true, hidden: 8, seed: 9);
        var wl = new float[b * k];
        var wf = new float[b * k];
        void Batch(IWeightingStrategy a) { a.Weights(world.Context.Full(), wl, wf); a.Learn(new LearnFeedback(world.Stats, default, Beta)); }
        for (int i = 0; i < 3; i++) { world.Next(); Batch(first); }
        first.EndEpoch();
        world.Next(); Batch(first);
        var saved = first.Export();
        var worldState = world.Rng.State;
        var second = Create(k, backOff: true, hidden: 8, seed: 1234);
        second.Import(saved);
        var runs = new List<float[]>();
        foreach (var agent in new IWeightingStrategy[] { first, second })
        {
            world.Rng.State = worldState;
            var trace = new List<float>();
            for (int i = 0; i < 4; i++) { world.Next(); Batch(agent); trace.AddRange(wl); }
            trace.AddRange(agent.Export().Arrays["labels_gate"]);
            runs.Add(trace.ToArray());
        }
        Assert.Equal(runs[0], runs[1]);
    }
}
