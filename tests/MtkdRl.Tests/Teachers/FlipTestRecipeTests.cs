using MtkdRl.Core;
using MtkdRl.Data.Scenes;
using MtkdRl.Teachers;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Scenes;
using MtkdRl.Tests.Training;
using static MtkdRl.Tests.Cli.CliRun;

namespace MtkdRl.Tests.Teachers;

/// <summary>
/// A recipe's <c>flip_test</c>: a trained segmentation teacher served with the flip test, its score the flip test's,
/// turned on and off by re-scoring the kept checkpoint (never by training again), and refused where it does not belong.
/// </summary>
public sealed class FlipTestRecipeTests
{
    private static PoolRecipe Recipe(bool? flipTest, string task = "") => PoolRecipe.Parse($$"""
        { {{task}} "seed": 2, "teachers": [ { "name": "t", "spec": "unet:4x8", "epochs": 1, "batch": 8, "optimizer": "adam", "lr": 0.01,
          "augment": "none"{{(flipTest is bool f ? $", \"flip_test\": {(f ? "true" : "false")}" : "")}} } ] }
        """, "test recipe");

    /// <summary>Scenes of 24x24 pixels made from three ring classes, mirror-invariant as the caller says.</summary>
    private static SceneDataset Scenes(TempFolder temp, bool mirrorInvariant)
    {
        string dir = Path.Combine(temp.Root, "scenes");
        var source = SceneSources.Rings3(temp.Sub("source"), trainCount: 24, testCount: 12);
        if (mirrorInvariant) source = source.WithDescriptor(new MtkdRl.Data.Datasets.DatasetDescriptor { MirrorInvariant = true });
        SceneGenerator.Write(source, new SceneOptions { Canvas = 24, TrainCount = 24, TestCount = 8, Seed = 5 }, dir);
        return SceneDataset.Load(dir);
    }

    private static double FlipTestMeanIoU(string pool, SceneDataset data)
    {
        var (model, config) = SegmentationCheckpoint.Load(Path.Combine(pool, "t"), TrainingTestCompute.Shared);
        var norm = config.Normalization.ToChannelNormalization();
        return SegmentationEvaluator.Evaluate(model, data.Test, norm, flip: true).MeanIoU;
    }

    [Fact]
    public void A_teacher_trained_with_flip_test_is_scored_so_and_toggling_it_rescores_the_kept_checkpoint()
    {
        using var temp = new TempFolder();
        var data = Scenes(temp, mirrorInvariant: true);
        string pool = Path.Combine(temp.Root, "pool");
        string weights = Path.Combine(pool, "t.safetensors");

        var trained = Assert.Single(SegmentationPool.Train(pool, data, Recipe(true), "test recipe", TrainingTestCompute.Shared));
        Assert.False(trained.Skipped);
        Assert.True(trained.Entry.FlipTest);
        double flip = FlipTestMeanIoU(pool, data);
        double plain = SegmentationCheckpoint.Load(Path.Combine(pool, "t"), TrainingTestCompute.Shared).Config.TestAccuracy!.Value;
        Assert.Equal(flip, trained.Entry.TestAccuracy);
        Assert.NotEqual(plain, flip);
        var manifest = PoolManifest.Read(pool, TaskKind.Segmentation);
        Assert.Equal(trained.Entry, Assert.Single(manifest.Teachers));
        string flipFingerprint = PoolFingerprint.Compute(pool, manifest).Pool;
        byte[] bytes = File.ReadAllBytes(weights);
        var written = File.GetLastWriteTimeUtc(weights);

        // Without flip_test the kept checkpoint is scored again as it is, not trained again, and the pool's fingerprint moves.
        var off = Assert.Single(SegmentationPool.Train(pool, data, Recipe(null), "test recipe", TrainingTestCompute.Shared));
        Assert.True(off.Skipped && off.Rescored);
        Assert.False(off.Entry.FlipTest);
        Assert.Equal(plain, off.Entry.TestAccuracy);
        Assert.Equal(bytes, File.ReadAllBytes(weights));
        Assert.Equal(written, File.GetLastWriteTimeUtc(weights));
        manifest = PoolManifest.Read(pool, TaskKind.Segmentation);
        Assert.Equal(off.Entry, Assert.Single(manifest.Teachers));
        Assert.DoesNotContain("flip_test", File.ReadAllText(PoolManifest.PathIn(pool)));
        Assert.NotEqual(flipFingerprint, PoolFingerprint.Compute(pool, manifest).Pool);

        // On again: the flip test's score; the same recipe once more keeps the teacher untouched.
        var on = Assert.Single(SegmentationPool.Train(pool, data, Recipe(true), "test recipe", TrainingTestCompute.Shared));
        Assert.True(on.Rescored && on.Entry.FlipTest);
        Assert.Equal(flip, on.Entry.TestAccuracy);
        Assert.Equal(flipFingerprint, PoolFingerprint.Compute(pool, PoolManifest.Read(pool, TaskKind.Segmentation)).Pool);
        var again = Assert.Single(SegmentationPool.Train(pool, data, Recipe(true), "test recipe", TrainingTestCompute.Shared));
        Assert.True(again.Skipped);
        Assert.False(again.Rescored);
        Assert.Equal(bytes, File.ReadAllBytes(weights));
    }

    [Fact]
    public void The_cli_trains_with_flip_test_evaluates_it_so_and_refuses_it_where_it_does_not_belong()
    {
        using var temp = new TempFolder();
        Scenes(temp, mirrorInvariant: true);
        string scenes = Path.Combine(temp.Root, "scenes"), pool = Path.Combine(temp.Root, "pool"), recipe = temp.File("recipe.json");
        File.WriteAllText(recipe, Recipe(true).ToJson());
        var train = Run("teachers", "train", "--pool", pool, "--data", scenes, "--recipe", recipe, "--threads", "1");
        AssertOk(train);
        Assert.Contains("(flip test)", train.Out);
        var served = Run("eval", "--model", Path.Combine(pool, "t"), "--data", scenes, "--threads", "1");
        AssertOk(served);
        Assert.Contains("answers with the flip test", served.Out);
        Assert.Contains($"mIoU {PoolManifest.Read(pool, TaskKind.Segmentation).Teachers[0].TestAccuracy:F4}", served.Out);

        // Scenes whose classes are not mirror-invariant: refused before anything is written.
        using var other = new TempFolder();
        Scenes(other, mirrorInvariant: false);
        string otherPool = Path.Combine(other.Root, "pool");
        AssertOneLineError(Run("teachers", "train", "--pool", otherPool, "--data", Path.Combine(other.Root, "scenes"), "--recipe", recipe),
            "teacher 't': flip_test needs mirror-invariant classes");
        Assert.False(Directory.Exists(otherPool));

        // A classification or detection recipe refuses it.
        File.WriteAllText(recipe, Recipe(true).ToJson().Replace("\"unet:4x8\"", "\"mlp:8\""));
        AssertOneLineError(Run("teachers", "train", "--pool", temp.Sub("classes"), "--recipe", recipe,
            "--data", Path.Combine(RepositoryPaths.Root, MtkdRl.Data.Datasets.DatasetLocator.CommittedSlice)),
            "teacher 't': flip_test is for segmentation teachers, and this recipe trains classification teachers");
        var detection = Assert.Throws<MtkdInputException>(() => Recipe(true, "\"task\": \"detection\",").DetectionPlans(24, true, "test recipe"));
        Assert.Equal("test recipe: teacher 't': flip_test is for segmentation teachers, and this recipe trains detection teachers", detection.Message);
    }
}
