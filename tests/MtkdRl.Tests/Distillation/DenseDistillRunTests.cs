using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Data.Scenes;
using MtkdRl.Distillation;
using MtkdRl.Teachers;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Scenes;
using MtkdRl.Tests.Training;

namespace MtkdRl.Tests.Distillation;

/// <summary>A dense run on small generated scenes: every catalog strategy trains a segmentation student, the same seed gives the same numbers.</summary>
public sealed class DenseDistillRunTests
{
    /// <summary>Two one-epoch teachers, a U-Net and an FCN.</summary>
    internal static PoolRecipe TinyTeachers => PoolRecipe.Parse("""
        { "seed": 2, "teachers": [
          { "name": "a", "spec": "unet:4x8", "epochs": 1, "batch": 8, "optimizer": "adam", "lr": 0.01, "augment": "none" },
          { "name": "b", "spec": "fcn:4x6", "epochs": 1, "batch": 8, "optimizer": "adam", "lr": 0.01, "augment": "none" } ] }
        """, "test recipe");

    /// <summary>Scenes of 24x24 pixels (40 train, 8 test) and a pool of <see cref="TinyTeachers"/> trained on them.</summary>
    /// <param name="mirrorInvariant">The scenes' source says its classes are mirror-invariant (rings are).</param>
    internal static (SceneDataset Data, string Pool) Setup(TempFolder temp, bool mirrorInvariant = false)
    {
        string dir = Path.Combine(temp.Root, "scenes");
        var source = SceneSources.Rings3(temp.Sub("source"), trainCount: 24, testCount: 12);
        if (mirrorInvariant) source = source.WithDescriptor(new MtkdRl.Data.Datasets.DatasetDescriptor { MirrorInvariant = true });
        SceneGenerator.Write(source, new SceneOptions { Canvas = 24, TrainCount = 40, TestCount = 8, Seed = 5 }, dir);
        var data = SceneDataset.Load(dir);
        string pool = Path.Combine(temp.Root, "pool");
        SegmentationPool.Train(pool, data, TinyTeachers, "test recipe", TrainingTestCompute.Shared);
        return (data, pool);
    }

    [Fact]
    public void Every_strategy_trains_a_student_and_a_seed_repeats_its_numbers()
    {
        using var temp = new TempFolder();
        var (data, pool) = Setup(temp);
        foreach (string name in MtkdRl.Strategies.StrategyCatalog.Names)
        {
            var recipe = new DistillRecipe { Student = "unet:4x8", Strategy = name, Epochs = 1, BatchSize = 8, Seed = 3, FixedWeights = name == "fixed" ? "1,3" : null };
            using var backend = BackendCatalog.Create("native");
            var run = new DenseDistillRun(data, pool, TrainingTestCompute.Shared, backend);
            var first = Assert.Single(run.Run(recipe));
            var second = Assert.Single(run.Run(recipe));
            Assert.True(double.IsFinite(first.Loss) && first.TestMeanIoU is > 0 and <= 1, $"{name}: loss {first.Loss}, mIoU {first.TestMeanIoU}");
            Assert.Equal((first.Loss, first.TestMeanIoU, first.TestPixelAccuracy), (second.Loss, second.TestMeanIoU, second.TestPixelAccuracy));
            Assert.Equal(first.MeanWl, second.MeanWl);
        }
    }

    [Fact]
    public void A_classification_pool_or_a_classifier_student_is_refused()
    {
        using var temp = new TempFolder();
        var (data, _) = Setup(temp);
        string other = Path.Combine(temp.Root, "cls");
        Directory.CreateDirectory(other);
        new PoolManifest { Dataset = new("d", "f"), Classes = 3, InputShape = [1, 8, 8], TrainRows = 1, TestRows = 1 }.Write(other);
        using var backend = BackendCatalog.Create("native");
        var e = Assert.Throws<MtkdInputException>(() => new DenseDistillRun(data, other, TrainingTestCompute.Shared, backend).Run(new DistillRecipe { Student = "unet:4x8", Epochs = 1, BatchSize = 8 }));
        Assert.Equal($"{PoolManifest.PathIn(other)}: made for classification, but this needs segmentation", e.Message);
    }
}
