using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Distillation;
using MtkdRl.Strategies;
using MtkdRl.Tests.Training;
using Xunit;

namespace MtkdRl.Tests.Distillation;

public sealed class DistillTrainerTests(DistillPoolFixture pool) : IClassFixture<DistillPoolFixture>
{
    private DistillTrainer Trainer() => pool.Trainer();

    private static DistillRecipe Recipe(string strategy, int epochs = 2) => DistillPoolFixture.Recipe(strategy, epochs);

    /// <summary>Stops a run after its first epoch, as an interrupted process would.</summary>
    private sealed class StopAfterFirstEpoch(CancellationTokenSource cancel) : IDistillObserver
    {
        public void EpochStarted(string run, int epoch, int epochs, int batches) { }
        public void BatchDone(string run, int batch, double loss) { }
        public void EpochDone(string run, DistillEpochMetrics metrics) => cancel.Cancel();
    }

    [Theory]
    [InlineData("mtkd-rl-ppo")]
    [InlineData("mtkd-rl-paper")]
    [InlineData("aver")]
    public void Interrupted_and_resumed_run_equals_the_uninterrupted_run_bit_for_bit(string strategy)
    {
        var recipe = Recipe(strategy);
        string straight = pool.NewRunDir(), split = pool.NewRunDir();
        var full = Trainer().Run(recipe, straight, resume: false);
        using (var cancel = new CancellationTokenSource())
        {
            var first = Trainer().Run(recipe, split, resume: false, new StopAfterFirstEpoch(cancel), cancel.Token);
            Assert.Equal(1, first.Summary.Epochs);
        }
        var resumed = Trainer().Run(recipe, split, resume: true);
        Assert.True(resumed.Resumed);
        foreach (string file in new[] { "student.safetensors", "state.safetensors" })
            Assert.True(File.ReadAllBytes(Path.Combine(straight, file)).SequenceEqual(File.ReadAllBytes(Path.Combine(split, file))), $"{strategy}: {file} differs");
        Assert.Equal(full.Metrics.Select(m => m.TestAcc), resumed.Metrics.Select(m => m.TestAcc));
        Assert.Equal(full.Metrics.Select(m => m.Loss), resumed.Metrics.Select(m => m.Loss));
        Assert.Equal(2, File.ReadAllLines(Path.Combine(split, "metrics.jsonl")).Length);
        Assert.True(File.Exists(Path.Combine(split, "summary.json")));
    }

    [Fact]
    public void Every_strategy_runs_and_reports_its_weights()
    {
        foreach (string strategy in StrategyCatalog.Names)
        {
            var recipe = Recipe(strategy, epochs: 1) with { FixedWeights = strategy == "fixed" ? "3,1" : null };
            var outcome = Trainer().Run(recipe, pool.NewRunDir(), resume: false);
            var m = Assert.Single(outcome.Metrics);
            Assert.InRange(m.TestAcc, 0.0, 1.0);
            Assert.True(double.IsFinite(m.Loss), strategy);
            Assert.Equal(2, m.MeanWl.Length);
            switch (strategy)
            {
                case "none": Assert.All(m.MeanWl, w => Assert.Equal(0f, w)); Assert.Null(m.WlOnBest); break;
                case "aver": Assert.All(m.MeanWl, w => Assert.Equal(0.5f, w, 6)); Assert.Equal(0.5, m.WlOnBest!.Value, 6); break;
                case "fixed": Assert.Equal([0.75f, 0.25f], m.MeanWl); break;
                default: Assert.True(m.MeanWl.All(w => w >= 0 && float.IsFinite(w)), strategy); break;
            }
        }
    }

    [Fact]
    public void Weight_on_the_best_teacher_is_the_row_share_of_the_lowest_teacher_cross_entropy()
    {
        var onBest = new WeightOnBest();
        // Row 0: best is teacher 0 (CEt 0.1), share 0.2. Row 1: best is teacher 1, share 0.5 of a row summing to 2.
        // Row 2 is ignored (label -1); row 3 has no weight at all (none-like) and does not count.
        float[] wl = [0.2f, 0.8f, 1f, 1f, 0.9f, 0.1f, 0f, 0f];
        float[] ceT = [0.1f, 2f, 3f, 1f, 0.1f, 5f, 1f, 2f];
        onBest.Add(wl, ceT, [1, 0, -1, 2], 2);
        Assert.Equal(0.35, onBest.TakeMean()!.Value, 6);
        Assert.Null(onBest.TakeMean());
    }

    [Fact]
    public void Distillation_from_the_pool_teaches_the_student()
    {
        // Two epochs of logit KD on 600 images: a student that learned nothing would sit near 10% on 10 classes;
        // the teachers reach about 70-75% here, so 50% shows the loop transfers knowledge (step, optimiser, cache rows).
        var outcome = Trainer().Run(Recipe("aver") with { Beta = 0 }, pool.NewRunDir(), resume: false);
        Assert.True(outcome.Metrics[^1].TestAcc >= 0.5, $"test accuracy {outcome.Metrics[^1].TestAcc:P1}");
    }

    [Fact]
    public void Loss_weights_reach_the_op_and_zero_distillation_weight_is_the_student_alone()
    {
        // a_kd = 0 and beta = 0 leave only the cross-entropy: the same student steps as `none`, up to the op's float
        // arithmetic (its exp and log are not the ones of the plain cross-entropy), so the same loss to a few digits.
        var alone = Trainer().Run(Recipe("none", epochs: 1), pool.NewRunDir(), resume: false).Metrics[0];
        var zero = Trainer().Run(Recipe("aver", epochs: 1) with { KdWeight = 0, Beta = 0 }, pool.NewRunDir(), resume: false).Metrics[0];
        Assert.Equal(alone.Loss, zero.Loss, 3);
        Assert.Equal(alone.TestAcc, zero.TestAcc, 2);
        // With the logit term on, the loss is the cross-entropy plus a_kd times the KD term: doubling a_kd must
        // raise it, and halving a_ce must lower it.
        var kd1 = Trainer().Run(Recipe("aver", epochs: 1) with { Beta = 0 }, pool.NewRunDir(), resume: false).Metrics[0];
        var kd2 = Trainer().Run(Recipe("aver", epochs: 1) with { Beta = 0, KdWeight = 2 }, pool.NewRunDir(), resume: false).Metrics[0];
        var ceHalf = Trainer().Run(Recipe("aver", epochs: 1) with { Beta = 0, CeWeight = 0.5f }, pool.NewRunDir(), resume: false).Metrics[0];
        Assert.True(kd2.Loss > kd1.Loss * 1.2, $"a_kd 2: loss {kd2.Loss} against {kd1.Loss} at a_kd 1");
        Assert.True(ceHalf.Loss < kd1.Loss * 0.95, $"a_ce 0.5: loss {ceHalf.Loss} against {kd1.Loss} at a_ce 1");
    }

    [Fact]
    public void A_run_folder_is_not_overwritten_without_resume_and_not_resumed_with_other_settings()
    {
        string dir = pool.NewRunDir();
        Trainer().Run(Recipe("aver", epochs: 1), dir, resume: false);
        var again = Assert.Throws<MtkdInputException>(() => Trainer().Run(Recipe("aver", epochs: 1), dir, resume: false));
        Assert.Contains("--resume", again.Message);
        var other = Assert.Throws<MtkdInputException>(() => Trainer().Run(Recipe("ca-mkd", epochs: 1), dir, resume: true));
        Assert.Contains("another configuration", other.Message);
        // Options that never reach the strategy do not make another run: aver ignores fixed weights.
        var finished = Trainer().Run(Recipe("aver", epochs: 1) with { FixedWeights = "3,1" }, dir, resume: true);
        Assert.Single(finished.Metrics);
        var longer = Assert.Throws<MtkdInputException>(() => Trainer().Run(Recipe("aver", epochs: 1) with { Beta = 1 }, dir, resume: true));
        Assert.Contains("another configuration", longer.Message);
    }

    [Fact]
    public void Unknown_strategy_and_bad_fixed_weights_are_one_line_errors()
    {
        var unknown = Assert.Throws<MtkdInputException>(() => Trainer().Run(Recipe("best-guess"), pool.NewRunDir(), resume: false));
        Assert.Contains("unknown strategy 'best-guess'", unknown.Message);
        var fixedWeights = Assert.Throws<MtkdInputException>(() =>
            Trainer().Run(Recipe("fixed") with { FixedWeights = "1,2,3" }, pool.NewRunDir(), resume: false));
        Assert.Contains("3 weights given for K=2", fixedWeights.Message);
    }
}

public sealed class LiveTeacherTests(DistillPoolFixture pool) : IClassFixture<DistillPoolFixture>
{
    private DistillTrainer Trainer() => new(pool.Data, pool.Pool, TrainingTestCompute.Shared, BackendCatalog.Create("native"), "native");

    private static DistillRecipe Recipe(string strategy) =>
        new() { Student = "mlp:16", Strategy = strategy, Epochs = 1, BatchSize = 50, Optimizer = "adam", LearningRate = 3e-3, Seed = 9 };

    [Fact]
    public void Live_teachers_without_augmentation_give_the_cached_run()
    {
        string cached = pool.NewRunDir(), live = pool.NewRunDir();
        var a = Trainer().Run(Recipe("ca-mkd"), cached, resume: false);
        var b = Trainer().Run(Recipe("ca-mkd") with { LiveTeachers = true }, live, resume: false);
        // The cache holds the same eval-mode forward passes, so the two runs see the same numbers.
        Assert.Equal(a.Metrics[0].Loss, b.Metrics[0].Loss, 6);
        Assert.Equal(a.Metrics[0].TestAcc, b.Metrics[0].TestAcc, 3);
        Assert.Equal(a.Metrics[0].MeanWl, b.Metrics[0].MeanWl);
    }

    [Fact]
    public void Live_teachers_follow_augmented_images_and_augmentation_needs_them()
    {
        var augmented = Trainer().Run(Recipe("aver") with { LiveTeachers = true, CropPadding = 2, HorizontalFlip = true }, pool.NewRunDir(), resume: false);
        var plain = Trainer().Run(Recipe("aver") with { LiveTeachers = true }, pool.NewRunDir(), resume: false);
        Assert.NotEqual(plain.Metrics[0].Loss, augmented.Metrics[0].Loss);
        var e = Assert.Throws<MtkdInputException>(() => Trainer().Run(Recipe("aver") with { HorizontalFlip = true }, pool.NewRunDir(), resume: false));
        Assert.Contains("--live-teachers", e.Message);
    }
}
