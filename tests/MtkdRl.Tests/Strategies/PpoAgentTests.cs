using Xunit.Abstractions;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Strategies;

namespace MtkdRl.Tests.Strategies;

public class PpoAgentTests(ITestOutputHelper output)
{
    private const float Beta = 5f;

    private static PpoAgent Create(int k, PpoConfig? config = null, ulong seed = 7) =>
        (PpoAgent)StrategyCatalog.Create(PpoAgent.CatalogName, k, new StrategyOptions { Seed = seed, Ppo = config ?? new PpoConfig() });

    [Fact]
    public void Parameter_count_does_not_depend_on_k()
    {
        Assert.Equal(Create(4).ParameterCount, Create(64).ParameterCount);
        Assert.Equal(Create(1).ParameterCount, Create(64).ParameterCount);
        var h = new PpoConfig().Hidden;
        Assert.Equal(PpoAgent.InputWidth * h + h + (h + 1) + (h + 1) + 1, Create(4).ParameterCount);
    }

    [Fact]
    public void One_step_gae_is_reward_minus_value()
    {
        float[] r = [1f, -0.5f, 2f, 0.25f];
        float[] v = [0.3f, 0.1f, -1f, 0.25f];
        float[] next = [9f, 9f, 9f, 9f]; // must be ignored: every step is terminal
        var adv = new float[4];
        PpoAgent.Gae(r, v, next, [true, true, true, true], 0.99f, 0.95f, adv);
        for (int i = 0; i < 4; i++) Assert.Equal(r[i] - v[i], adv[i], 6);
    }

    [Fact]
    public void Multi_step_gae_matches_hand_computation()
    {
        float[] r = [1f, 0f, 2f];
        float[] v = [0.5f, 1f, 0.2f];
        float[] next = [1f, 0.2f, 0.7f];
        const float g = 0.9f, l = 0.8f;
        var adv = new float[3];
        PpoAgent.Gae(r, v, next, [false, false, true], g, l, adv);
        double d2 = 2 - 0.2, d1 = 0 + g * 0.2 - 1, d0 = 1 + g * 1 - 0.5;
        double a2 = d2, a1 = d1 + g * l * a2, a0 = d0 + g * l * a1;
        Assert.Equal(a2, adv[2], 5);
        Assert.Equal(a1, adv[1], 5);
        Assert.Equal(a0, adv[0], 5);
    }

    [Fact]
    public void Weights_follow_the_teachers_when_they_are_permuted()
    {
        // With almost no sampling noise the weights are softmax(mu), and mu scores each teacher by itself plus
        // pooled context: permuting the teachers must permute the weights.
        var world = new BanditWorld(8, 5, 3, 2, 21);
        world.Next();
        int[] perm = [3, 0, 4, 1, 2];
        var permuted = new DistillStats(world.Shape);
        foreach (var ((_, src), (_, dst)) in world.Stats.Named().Zip(permuted.Named()))
        {
            if (src.Length == world.Shape.B) { src.CopyTo(dst, 0); continue; }
            for (int r = 0; r < 8; r++) for (int k = 0; k < 5; k++) dst[r * 5 + k] = src[r * 5 + perm[k]];
        }
        var config = new PpoConfig { InitialLogStd = -30f };
        var a = Create(5, config);
        var b = Create(5, config);
        var (wa, wb) = (new float[40], new float[40]);
        a.Weights(new WeightingContext(world.Stats), wa, new float[40]);
        b.Weights(new WeightingContext(permuted), wb, new float[40]);
        for (int r = 0; r < 8; r++) for (int k = 0; k < 5; k++) Assert.Equal(wa[r * 5 + perm[k]], wb[r * 5 + k], 5);
        Assert.Contains(wa, w => Math.Abs(w - 0.2f) > 1e-4); // not trivially uniform
    }

    /// <summary>Runs the agent on the bandit; returns the mean weight on the right teacher over the last batches.</summary>
    private static (double Start, double End, List<PpoUpdateLog> Logs) TrainOnBandit(int k, PpoConfig config, int batches, ulong seed)
    {
        const int b = 64;
        var world = new BanditWorld(b, k, 3, 2, seed);
        var agent = Create(k, config, seed + 1);
        var wl = new float[b * k];
        var wf = new float[b * k];
        var logs = new List<PpoUpdateLog>();
        double start = 0, end = 0;
        const int window = 20;
        for (int i = 0; i < batches; i++)
        {
            world.Next();
            agent.Weights(new WeightingContext(world.Stats), wl, wf);
            if (i < window) start += world.RightWeight(wl) / window;
            if (i >= batches - window) end += world.RightWeight(wl) / window;
            if (agent.Learn(new LearnFeedback(world.Stats, default, Beta)) is PpoUpdateLog log) logs.Add(log);
            if (i % 50 == 49) agent.EndEpoch();
        }
        return (start, end, logs);
    }

    /// <summary>
    /// K = 4 teachers, one right per cluster: uniform weighting puts 0.25 on the right teacher. After training the
    /// sampled weights (noise included) must put at least 0.6 there, more than twice uniform and more than any
    /// fixed rule can reach by chance; ca-mkd, which knows the answer from CEt, reaches about 0.33 here.
    /// </summary>
    [Theory]
    [InlineData(PpoRewardKind.Paper)]
    [InlineData(PpoRewardKind.TeacherFit)]
    public void Ppo_puts_most_weight_on_the_right_teacher(PpoRewardKind reward)
    {
        var config = new PpoConfig { RolloutRows = 512, RowsPerBatch = 64, MinibatchRows = 128, Reward = reward };
        var (start, end, logs) = TrainOnBandit(4, config, 400, 31);
        output.WriteLine($"K=4, {reward} reward: right-teacher weight {start:F3} -> {end:F3}; explained variance {logs[0].ExplainedVariance:F3} -> {logs[^1].ExplainedVariance:F3}");
        Assert.True(start < 0.35, $"untrained policy already at {start:F3}");
        Assert.True(end >= 0.6, $"PPO puts {end:F3} on the right teacher after training (start {start:F3})");
        Assert.NotEmpty(logs);
        Assert.All(logs, l =>
        {
            Assert.True(double.IsFinite(l.ApproxKl) && l.ApproxKl >= -1e-6, $"approx_kl {l.ApproxKl}");
            Assert.InRange(l.ClipFraction, 0, 1);
            Assert.True(double.IsFinite(l.PolicyLoss) && double.IsFinite(l.ValueLoss) && double.IsFinite(l.Entropy));
        });
        Assert.True(logs[^1].ExplainedVariance > logs[0].ExplainedVariance, "the value baseline did not learn");
    }

    [Fact]
    public void Teacher_fit_reward_prefers_weight_on_the_teacher_that_knows_the_label()
    {
        // Two rows with the same statistics: teacher 0 is right (small CEt), teacher 1 wrong. The row that weighs
        // teacher 0 more must get the higher reward, and the batch's rewards are z-scored (mean 0).
        var stats = new DistillStats(new DistillShape(2, 2, 3, 1));
        stats.CeT[0] = 0.1f; stats.CeT[1] = 2.5f; stats.CeT[2] = 0.1f; stats.CeT[3] = 2.5f;
        // The student already imitates the wrong teacher (small KL) and disagrees with the right one.
        stats.Kl[0] = stats.Kl[2] = 1f;
        stats.Kl[1] = stats.Kl[3] = 0.01f;
        float[] wl = [0.8f, 0.2f, 0.3f, 0.7f];
        var reward = new float[2];
        new TeacherFitReward().Compute(new LearnFeedback(stats), wl, wl, [0, 1], reward);
        Assert.True(reward[0] > reward[1], $"rewards {reward[0]}, {reward[1]}");
        Assert.Equal(0, reward[0] + reward[1], 5);
        PaperReward.Compute(stats, default, wl, wl, Beta, clamp: false, reward);
        Assert.True(reward[1] > reward[0], "the paper's reward favours the imitated teacher here, which is why TeacherFit exists");
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void Ppo_learns_with_sixty_four_teachers()
    {
        // Uniform is 1/64; the same network must find the right teacher among 64.
        var config = new PpoConfig { RolloutRows = 512, RowsPerBatch = 64, MinibatchRows = 128 };
        var (start, end, _) = TrainOnBandit(64, config, 300, 41);
        output.WriteLine($"K=64: right-teacher weight {start:F4} -> {end:F3}");
        Assert.True(end >= 0.3 && end > 10 * start, $"K=64: {end:F3} on the right teacher (start {start:F3}, uniform {1 / 64.0:F3})");
    }

    /// <summary>
    /// Central differences of the PPO loss against the analytic gradient, at a point where the ratios differ from 1
    /// (parameters moved after the rollout) but stay inside the clip range, so the loss is smooth there.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Backward_matches_finite_differences(bool labelsSlot)
    {
        const int b = 32, k = 3;
        var config = new PpoConfig { RolloutRows = 64, RowsPerBatch = 32, Hidden = 8, EntropyCoefficient = 0.01f, ValueClipRange = 10f, LabelsSlot = labelsSlot, LabelsGateRate = 0 };
        var world = new BanditWorld(b, k, 3, 2, 3);
        var agent = Create(k, config);
        var wl = new float[b * k];
        for (int i = 0; i < 1; i++)
        {
            world.Next();
            agent.Weights(new WeightingContext(world.Stats), wl, new float[b * k]);
            Assert.Null(agent.Learn(new LearnFeedback(world.Stats, default, Beta)));
        }
        Assert.Equal(32, agent.RolloutFilled);
        agent.PrepareAdvantages();
        var rng = new Rng(5);
        var theta = agent.Theta;
        for (int i = 0; i < theta.Length; i++) theta[i] += 0.01f * (2 * rng.NextSingle() - 1);
        int[] rows = Enumerable.Range(0, 32).ToArray();
        var loss = agent.LossAndGradient(rows);
        Assert.True(loss.ClipFraction == 0, "the check point must stay inside the clip range");
        var analytic = (float[])agent.Gradient.Clone();
        double worst = 0, largest = 0;
        for (int i = 0; i < theta.Length; i++)
        {
            const float h = 1e-3f;
            float keep = theta[i];
            theta[i] = keep + h;
            double plus = agent.LossAndGradient(rows).Total(config);
            theta[i] = keep - h;
            double minus = agent.LossAndGradient(rows).Total(config);
            theta[i] = keep;
            double numeric = (plus - minus) / (2 * h);
            worst = Math.Max(worst, Math.Abs(numeric - analytic[i]));
            largest = Math.Max(largest, Math.Abs(numeric));
        }
        output.WriteLine($"PPO backward: worst |analytic - numeric| {worst:E2}, largest {largest:E2}");
        Assert.True(largest > 1e-3, $"gradient too small to check ({largest:E2})");
        Assert.True(worst <= 2e-2 * largest, $"analytic vs numeric gradient: worst {worst:E2}, largest {largest:E2}");
    }

    /// <summary>Every teacher as lost as random logits (CEt 2.3 to 2.8, no hits); the student already knows the label better (CEs 0.3 to 0.7).</summary>
    private static void MakeUseless(BanditWorld world)
    {
        int n = world.Shape.B * world.Shape.K;
        for (int j = 0; j < n; j++) { world.Stats.CeT[j] = 2.3f + 0.5f * world.Rng.NextSingle(); world.Stats.Hit[j] = 0; }
        for (int r = 0; r < world.Shape.B; r++) world.Stats.CeS[r] = 0.3f + 0.4f * world.Rng.NextSingle();
    }

    /// <summary>
    /// The labels slot on two bandits. Useless teachers (every CEt far above the student's CEs): the agent must learn
    /// to give the labels most of each row, which the teachers' weights then leave out. Strong teachers (the right
    /// one's CEt far below CEs): the slot must stay small, so distillation stays on.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void With_a_labels_slot_the_agent_backs_off_useless_teachers_and_stays_on_strong_ones(bool useless)
    {
        const int b = 64, k = 4, batches = 400, window = 20;
        var config = new PpoConfig { RolloutRows = 512, RowsPerBatch = 64, MinibatchRows = 128, LabelsSlot = true };
        var world = new BanditWorld(b, k, 3, 2, 17);
        var agent = Create(k, config, 18);
        var wl = new float[b * k];
        var wf = new float[b * k];
        double start = 0, end = 0;
        for (int i = 0; i < batches; i++)
        {
            world.Next();
            if (useless) MakeUseless(world);
            agent.Weights(new WeightingContext(world.Stats), wl, wf);
            Assert.Equal(wl, wf);
            double labels = 1 - wl.Sum() / b;
            if (i == 0) start = labels;
            if (i >= batches - window) end += labels / window;
            agent.Learn(new LearnFeedback(world.Stats, default, Beta));
            if (i % 50 == 49) agent.EndEpoch();
        }
        output.WriteLine($"{(useless ? "useless" : "strong")} pool: labels share {start:F3} -> {end:F3}");
        Assert.InRange(start, 0.1, 0.35); // one share of K+1 = 0.2 before any learning
        if (useless) Assert.True(end >= 0.7, $"labels share only {end:F3} on useless teachers");
        else Assert.True(end <= 0.1, $"labels share {end:F3} on strong teachers");
    }

    /// <summary>
    /// Started backed off, as <c>--back-off</c> starts (labels logit 4: 96 % of a row at K = 4 is e^4/(e^4+4) = 93 %),
    /// the gate must bring a pool of specialists back within a few dozen batches (each row has one teacher that knows
    /// its label, while the even mixture the agent starts from is worse than the student), and must stay off a
    /// useless pool.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Started_backed_off_the_agent_comes_back_for_specialists_and_stays_off_useless_teachers(bool useless)
    {
        const int b = 64, k = 4, batches = 200, window = 20;
        var config = new PpoConfig { RolloutRows = 512, RowsPerBatch = 32, LabelsSlot = true, LabelsInitialLogit = 4f };
        var world = new BanditWorld(b, k, 3, 2, 23);
        var agent = Create(k, config, 24);
        var wl = new float[b * k];
        var wf = new float[b * k];
        double start = 0, end = 0, right = 0;
        for (int i = 0; i < batches; i++)
        {
            world.Next();
            if (useless) MakeUseless(world);
            agent.Weights(new WeightingContext(world.Stats), wl, wf);
            double labels = 1 - wl.Sum() / b;
            if (i == 0) start = labels;
            if (i >= batches - window) { end += labels / window; right += world.RightWeight(wl) / window; }
            agent.Learn(new LearnFeedback(world.Stats, default, Beta));
        }
        output.WriteLine($"{(useless ? "useless" : "specialist")} pool started backed off: labels share {start:F3} -> {end:F3}, right teacher {right:F3}");
        Assert.True(start >= 0.85, $"the start should be backed off ({start:F3})");
        if (useless) Assert.True(end >= 0.99, $"labels share only {end:F3} on useless teachers");
        else Assert.True(end <= 0.05, $"labels share {end:F3} on a pool of specialists");
    }

    [Fact]
    public void A_checkpoint_with_the_labels_slot_is_refused_by_a_run_without_it()
    {
        var with = Create(3, new PpoConfig { LabelsSlot = true });
        Assert.Equal(Create(3).ParameterCount + 16 + 1, with.ParameterCount);
        var e = Assert.Throws<MtkdInputException>(() => Create(3).Import(with.Export()));
        Assert.Contains("labels slot", e.Message);
    }

    [Fact]
    public void Export_import_continues_bit_identically()
    {
        const int b = 32, k = 4;
        var config = new PpoConfig { RolloutRows = 96, RowsPerBatch = 20, MinibatchRows = 32, AnnealEpochs = 10 };
        var world = new BanditWorld(b, k, 3, 2, 13);
        var first = Create(k, config, 99);
        var wl = new float[b * k];
        var wf = new float[b * k];
        void Batch(IWeightingStrategy a) { a.Weights(new WeightingContext(world.Stats), wl, wf); a.Learn(new LearnFeedback(world.Stats, default, Beta)); }
        for (int i = 0; i < 7; i++) { world.Next(); Batch(first); if (i == 3) first.EndEpoch(); }
        var saved = first.Export();
        Assert.True(saved.Scalar("filled") > 0, "the checkpoint should hold a partly filled rollout");
        var worldState = world.Rng.State;

        var second = Create(k, config, 1);
        second.Import(saved);
        var traces = new List<float[]>();
        foreach (var agent in new IWeightingStrategy[] { first, second })
        {
            world.Rng.State = worldState;
            var trace = new List<float>();
            for (int i = 0; i < 9; i++) { world.Next(); Batch(agent); trace.AddRange(wl); }
            trace.AddRange(agent.Export().Arrays["theta"]);
            traces.Add(trace.ToArray());
        }
        Assert.Equal(traces[0], traces[1]);
        Assert.Throws<MtkdInputException>(() => Create(5, config).Import(saved));
    }

    [Fact]
    public void Probe_reward_gives_every_kept_row_the_batch_improvement()
    {
        const int b = 16, k = 2;
        var config = new PpoConfig { Reward = PpoRewardKind.Probe, RolloutRows = 64, RowsPerBatch = 16, MinibatchRows = 32 };
        var world = new BanditWorld(b, k, 3, 2, 2);
        var agent = Create(k, config);
        var wl = new float[b * k];
        PpoUpdateLog? log = null;
        for (int i = 0; i < 4; i++)
        {
            world.Next();
            agent.Weights(new WeightingContext(world.Stats), wl, new float[b * k]);
            log = (PpoUpdateLog?)agent.Learn(new LearnFeedback(world.Stats, default, Beta, 1.0, 1.0 - 0.1 * (i + 1)));
        }
        Assert.NotNull(log);
        Assert.True(log.MeanReward > 0, $"improvements were all positive, mean reward {log.MeanReward}");
        agent.Weights(new WeightingContext(world.Stats), wl, new float[b * k]);
        Assert.Throws<MtkdInputException>(() => agent.Learn(new LearnFeedback(world.Stats, default, Beta)));
    }

    [Fact]
    public void Acting_and_collecting_allocate_nothing_per_row()
    {
        const int b = 128, k = 16;
        var world = new BanditWorld(b, k, 3, 2, 6);
        var agent = Create(k, new PpoConfig { RolloutRows = 100_000 });
        var (wl, wf) = (new float[b * k], new float[b * k]);
        void Batch() { agent.Weights(new WeightingContext(world.Stats), wl, wf); agent.Learn(new LearnFeedback(world.Stats, default, Beta)); }
        world.Next();
        Batch();
        // One allocation per row over 20 batches would be at least 20 * 128 * 24 bytes, in every measurement. The
        // fewest of three is taken: inside the whole suite a measurement has been seen to pick up about 5 KB that a
        // run of this test alone never shows (0 bytes), which is not the code's own.
        long fewest = long.MaxValue;
        for (int measurement = 0; measurement < 3; measurement++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 20; i++) Batch();
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.True(fewest < 4096, $"20 batches allocated {fewest} bytes (the fewest of three measurements)");
    }

    [Fact]
    public void Mixing_with_the_paper_terms_adds_the_divergence_terms()
    {
        // wl - wf = (softmax(KL) - softmax(cos)) / 3 whatever the policy sampled, and rows still sum to 1.
        const int b = 6, k = 3;
        var world = new BanditWorld(b, k, 3, 2, 8);
        world.Next();
        var agent = Create(k, new PpoConfig { MixWithPaperTerms = true });
        var (wl, wf) = (new float[b * k], new float[b * k]);
        agent.Weights(new WeightingContext(world.Stats), wl, wf);
        for (int r = 0; r < b; r++)
        {
            double[] Soft(float[] a) { var e = Enumerable.Range(0, k).Select(t => Math.Exp(a[r * k + t])).ToArray(); return e.Select(v => v / e.Sum()).ToArray(); }
            var (dl, df) = (Soft(world.Stats.Kl), Soft(world.Stats.Cos));
            for (int t = 0; t < k; t++) Assert.Equal((dl[t] - df[t]) / 3, wl[r * k + t] - wf[r * k + t], 5);
            Assert.Equal(1.0, wl.AsSpan(r * k, k).ToArray().Sum(), 5);
            Assert.Equal(1.0, wf.AsSpan(r * k, k).ToArray().Sum(), 5);
        }
    }

    [Fact]
    public void Acting_and_learning_compute_the_same_policy()
    {
        // Acting runs the network batched, learning row by row; before any step the two must agree, so every
        // ratio is 1 and approx_kl is 0 (a mismatch would bias the first minibatch of every update).
        const int b = 24, k = 5;
        var world = new BanditWorld(b, k, 3, 2, 12);
        var agent = Create(k, new PpoConfig { RolloutRows = 200, RowsPerBatch = 24 });
        var (wl, wf) = (new float[b * k], new float[b * k]);
        for (int i = 0; i < 3; i++)
        {
            world.Next();
            agent.Weights(new WeightingContext(world.Stats), wl, wf);
            agent.Learn(new LearnFeedback(world.Stats, default, Beta));
        }
        agent.PrepareAdvantages();
        var losses = agent.LossAndGradient(Enumerable.Range(0, agent.RolloutFilled).ToArray());
        Assert.True(Math.Abs(losses.ApproxKl) < 1e-6, $"approx_kl before any step: {losses.ApproxKl:E2}");
        Assert.Equal(0, losses.ClipFraction);
    }

    [Fact]
    public void Ignored_rows_never_join_the_rollout()
    {
        const int b = 8, k = 2;
        var config = new PpoConfig { RolloutRows = 64, RowsPerBatch = 8 };
        var world = new BanditWorld(b, k, 3, 2, 4);
        world.Next();
        var agent = Create(k, config);
        int[] y = [0, -1, 1, -1, -1, 2, -1, 0];
        agent.Weights(new WeightingContext(world.Stats, y), new float[b * k], new float[b * k]);
        agent.Learn(new LearnFeedback(world.Stats, y, Beta));
        Assert.Equal(4, agent.RolloutFilled);
    }

    /// <summary>
    /// The running input normaliser against a float64 mean and variance over every counted, finite value seen:
    /// batches with every row counted take the vector path, a batch with an ignored row or a NaN the per-value one,
    /// and both must feed the same moments. A non-finite statistic must enter the network as 0.
    /// </summary>
    [Fact]
    public void Normaliser_tracks_the_moments_of_counted_finite_values_on_both_paths()
    {
        const int b = 16, k = 3;
        var agent = Create(k);
        var world = new BanditWorld(b, k, 3, 2, 21);
        var seen = Enumerable.Range(0, 8).Select(_ => new List<double>()).ToArray();
        var (wl, wf) = (new float[b * k], new float[b * k]);
        for (int batch = 0; batch < 6; batch++)
        {
            world.Next();
            var stats = world.Stats;
            int[]? y = null;
            if (batch % 3 == 2)
            {
                y = Enumerable.Range(0, b).Select(r => r == 5 ? -1 : 0).ToArray();
                stats.Kl[2 * k + 1] = float.NaN;
                stats.Mse[7 * k] = float.PositiveInfinity;
            }
            // Offsets far from 0 make a naive sum of squares lose the variance.
            for (int i = 0; i < b * k; i++) stats.Conf[i] += 1000f;
            agent.Weights(new WeightingContext(stats, y), wl, wf);
            agent.Learn(new LearnFeedback(stats, y, Beta));
            float[][] channels = [stats.Kl, stats.CeT, stats.Ht, stats.Conf, stats.Hit, stats.Cos, stats.Mse];
            for (int r = 0; r < b; r++)
            {
                if (y is not null && y[r] < 0) continue;
                for (int ch = 0; ch < 7; ch++)
                    for (int t = 0; t < k; t++)
                        if (float.IsFinite(channels[ch][r * k + t])) seen[ch].Add(channels[ch][r * k + t]);
                seen[7].Add(stats.CeS[r]);
            }
            if (batch % 3 == 2)
            {
                var x = agent.LastInputs(b);
                Assert.Equal(0f, x[(2 * k + 1) * PpoAgent.InputWidth + 0]);
                Assert.Equal(0f, x[(7 * k) * PpoAgent.InputWidth + 6]);
            }
        }
        for (int ch = 0; ch < 8; ch++)
        {
            double mean = seen[ch].Average();
            double variance = seen[ch].Sum(v => (v - mean) * (v - mean)) / (seen[ch].Count - 1);
            var (gotMean, gotVariance) = agent.NormaliserMoments(ch);
            Assert.True(Math.Abs(gotMean - mean) <= 1e-6 * (1 + Math.Abs(mean)), $"channel {ch}: mean {gotMean} vs {mean}");
            Assert.True(Math.Abs(gotVariance - variance) <= 1e-4 * variance + 1e-9, $"channel {ch}: variance {gotVariance} vs {variance}");
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public void Learning_rate_anneals_linearly_per_epoch_when_asked(int annealEpochs)
    {
        const int b = 32, k = 3;
        var config = new PpoConfig { RolloutRows = 64, RowsPerBatch = 32, MinibatchRows = 32, LearningRate = 0.01f, AnnealEpochs = annealEpochs };
        var agent = Create(k, config);
        var world = new BanditWorld(b, k, 3, 2, 17);
        var (wl, wf) = (new float[b * k], new float[b * k]);
        var rates = new List<double>();
        for (int epoch = 0; epoch < 4; epoch++)
        {
            for (int batch = 0; batch < 2; batch++)
            {
                world.Next();
                agent.Weights(new WeightingContext(world.Stats), wl, wf);
                if (agent.Learn(new LearnFeedback(world.Stats, default, Beta)) is PpoUpdateLog log) rates.Add(log.LearningRate);
            }
            agent.EndEpoch();
        }
        // One update per epoch (2 batches x 32 rows fill the 64-row rollout): lr x (1 - epoch / 4), or constant.
        double[] expected = annealEpochs == 0 ? [0.01, 0.01, 0.01, 0.01] : [0.01, 0.0075, 0.005, 0.0025];
        Assert.Equal(expected.Length, rates.Count);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], rates[i], 6);
    }
}
