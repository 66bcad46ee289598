using System.Text.Json;
using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Distillation;
using MtkdRl.Tests.Training;

namespace MtkdRl.Tests.Distillation;

/// <summary>The catalog losses through a whole run: they reach the op, the checkpoint records them, resume checks them.</summary>
public sealed class DistillLossRunTests(DistillPoolFixture pool) : IClassFixture<DistillPoolFixture>
{
    public static TheoryData<string> Divergences()
    {
        var data = new TheoryData<string>();
        foreach (var entry in DistillLossCatalog.Divergences.Where(e => e.Kind != LogitDivergence.Kl)) data.Add(entry.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Divergences))]
    public void Each_divergence_trains_changes_the_loss_and_is_recorded(string name)
    {
        var kl = pool.Trainer().Run(DistillPoolFixture.Recipe("aver", 1), pool.NewRunDir(), resume: false);
        var recipe = DistillPoolFixture.Recipe("aver", 1).WithLosses(name, "smooth-l1");
        string dir = pool.NewRunDir();
        var run = pool.Trainer().Run(recipe, dir, resume: false);
        Assert.True(double.IsFinite(run.Metrics[0].Loss));
        Assert.NotEqual(kl.Metrics[0].Loss, run.Metrics[0].Loss);
        var state = DistillCheckpoint.ReadState(dir);
        Assert.Equal(DistillLossCatalog.ParseDivergence(name).KdName, state.Recipe.KdLoss);
        Assert.Equal("smooth-l1", state.Recipe.FeatureLoss);
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "summary.json")));
        Assert.Equal(state.Recipe.KdLoss, summary.RootElement.GetProperty("kd_loss").GetString());
    }

    [Fact]
    public void Resume_with_another_loss_is_a_one_line_error()
    {
        string dir = pool.NewRunDir();
        var recipe = DistillPoolFixture.Recipe("aver", 1).WithLosses("dkd:alpha=2", "cosine");
        pool.Trainer().Run(recipe, dir, resume: false);
        // The same loss spelled another way is the same run.
        Assert.Single(pool.Trainer().Run(DistillPoolFixture.Recipe("aver", 1).WithLosses("dkd:2,8", "cosine"), dir, resume: true).Metrics);
        foreach (var other in new[] { recipe.WithLosses("dkd:alpha=3", "cosine"), recipe.WithLosses(null, "cosine"), recipe.WithLosses("dkd:alpha=2", null) })
        {
            var e = Assert.Throws<MtkdInputException>(() => pool.Trainer().Run(other, dir, resume: true));
            Assert.Contains("another configuration", e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
    }

    [Fact]
    public void A_backend_without_the_loss_refuses_it_before_the_run_folder_is_made()
    {
        string dir = pool.NewRunDir();
        using var backend = new KlOnlyBackend();
        var trainer = new DistillTrainer(pool.Data, pool.Pool, TrainingTestCompute.Shared, backend, backend.Name);
        var e = Assert.Throws<MtkdInputException>(() => trainer.Run(DistillPoolFixture.Recipe("aver", 1).WithLosses("jsd", null), dir, resume: false));
        Assert.Equal($"kl-only: --kd-loss jsd:beta=0.5 --feature-loss mse is not implemented on this backend (every loss runs on: {DistillLossSupport.FullBackends})", e.Message);
        Assert.False(Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any());
    }

    /// <summary>A backend that computes kl + mse only (every shipped backend computes the whole catalog).</summary>
    private sealed class KlOnlyBackend : IDistillBackend
    {
        private readonly ReferenceBackend _inner = new();
        public string Name => "kl-only";
        public string Device => _inner.Device;
        public bool ApproximateMath => false;
        public IDistillSession CreateSession(DistillShape shape) => _inner.CreateSession(shape);
        public void Dispose() => _inner.Dispose();
    }
}
