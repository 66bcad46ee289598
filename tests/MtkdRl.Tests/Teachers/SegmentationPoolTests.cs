using MtkdRl.Core;
using MtkdRl.Data.Scenes;
using MtkdRl.Teachers;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Scenes;
using MtkdRl.Tests.Training;
using MtkdRl.Training;

namespace MtkdRl.Tests.Teachers;

/// <summary>
/// Segmentation teachers on a small generated scenes folder: the pool records its task, a classification
/// command refuses it (and the reverse) in one line, a checkpoint reloads to the same mIoU, and training is
/// deterministic for a seed.
/// </summary>
public class SegmentationPoolTests
{
    private static readonly SceneOptions Small = new() { Canvas = 24, TrainCount = 24, TestCount = 8, Seed = 5 };

    private static PoolRecipe Recipe(string spec = "unet:4x8") => PoolRecipe.Parse(
        $$"""{ "seed": 2, "teachers": [ { "name": "t", "spec": "{{spec}}", "epochs": 2, "batch": 8, "optimizer": "adam", "lr": 0.01, "augment": "flip" } ] }""", "test recipe");

    private static SceneDataset Scenes(TempFolder temp)
    {
        string dir = Path.Combine(temp.Root, "scenes");
        SceneGenerator.Write(SceneSources.Rings3(temp.Sub("source"), trainCount: 24, testCount: 12), Small, dir);
        return SceneDataset.Load(dir);
    }

    [Fact]
    public void A_pool_records_segmentation_and_classification_readers_refuse_it()
    {
        using var temp = new TempFolder();
        var data = Scenes(temp);
        string pool = Path.Combine(temp.Root, "pool");
        var results = SegmentationPool.Train(pool, data, Recipe(), "test recipe", TrainingTestCompute.Shared);
        var entry = Assert.Single(results).Entry;
        var manifest = PoolManifest.Read(pool, TaskKind.Segmentation);
        Assert.Equal("segmentation", manifest.Task);
        Assert.Equal(4, manifest.Classes); // three source classes and background
        Assert.Equal(entry, Assert.Single(manifest.Teachers));

        var e = Assert.Throws<MtkdInputException>(() => PoolManifest.Read(pool));
        Assert.Equal($"{PoolManifest.PathIn(pool)}: made for segmentation, but this needs classification", e.Message);

        var (model, config) = SegmentationCheckpoint.Load(Path.Combine(pool, entry.Checkpoint!), TrainingTestCompute.Shared);
        var norm = config.Normalization.ToChannelNormalization();
        Assert.Equal(entry.TestAccuracy, SegmentationEvaluator.Evaluate(model, data.Test, norm).MeanIoU);

        // Trained again with the same recipe, the teacher is kept as it is.
        Assert.True(Assert.Single(SegmentationPool.Train(pool, data, Recipe(), "test recipe", TrainingTestCompute.Shared)).Skipped);
    }

    [Fact]
    public void A_classification_pool_is_refused_as_a_segmentation_one_and_classifier_specs_on_scenes()
    {
        using var temp = new TempFolder();
        string pool = Path.Combine(temp.Root, "pool");
        Directory.CreateDirectory(pool);
        new PoolManifest { Dataset = new("d", "f"), Classes = 3, InputShape = [1, 8, 8], TrainRows = 1, TestRows = 1 }.Write(pool);
        Assert.Equal(3, PoolManifest.Read(pool).Classes);
        Assert.DoesNotContain("\"task\"", File.ReadAllText(PoolManifest.PathIn(pool)));
        var e = Assert.Throws<MtkdInputException>(() => PoolManifest.Read(pool, TaskKind.Segmentation));
        Assert.Equal($"{PoolManifest.PathIn(pool)}: made for classification, but this needs segmentation", e.Message);

        var data = Scenes(temp);
        var spec = Assert.Throws<MtkdInputException>(() => SegmentationPool.Plans(Recipe("cnn:8"), data, "test recipe"));
        Assert.Contains("teacher 't': spec cnn:8 is a classifier", spec.Message);
        spec = Assert.Throws<MtkdInputException>(() => SegmentationPool.Plans(Recipe("det:4x8"), data, "test recipe"));
        Assert.Equal("test recipe: teacher 't': spec det:4x8 is a detector, and this recipe trains segmentation teachers (a detection recipe says \"task\": \"detection\")", spec.Message);
    }

    [Fact]
    public void Training_is_deterministic_for_a_seed()
    {
        using var temp = new TempFolder();
        var data = Scenes(temp);
        var plan = SegmentationPool.Plans(Recipe(), data, "test recipe").Single().Recipe;
        var trainer = new SegmentationTrainer(data, TrainingTestCompute.Shared);
        string metrics = Path.Combine(temp.Root, "a.metrics.jsonl");
        File.WriteAllText(metrics, "{\"model\":\"old\",\"epoch\":9}\n");  // an earlier training's file is replaced
        var a = trainer.Train("t", plan, Path.Combine(temp.Root, "a"), metricsPath: metrics);
        var lines = JsonFiles.ReadLines<EpochMetrics>(metrics).ToList();
        Assert.Equal(Enumerable.Range(1, plan.Epochs), lines.Select(l => l.Epoch));
        Assert.All(lines, l => Assert.Equal("t", l.Model));
        Assert.Equal(a.Test.MeanIoU, lines[^1].TestAcc);
        var b = trainer.Train("t", plan, Path.Combine(temp.Root, "b"));
        var c = trainer.Train("t", plan with { Seed = plan.Seed + 1 }, Path.Combine(temp.Root, "c"));
        Assert.Equal(File.ReadAllBytes(Path.Combine(temp.Root, "a.safetensors")), File.ReadAllBytes(Path.Combine(temp.Root, "b.safetensors")));
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(temp.Root, "a.safetensors")), File.ReadAllBytes(Path.Combine(temp.Root, "c.safetensors")));
        Assert.Equal(a.Test, b.Test with { PerClassIoU = a.Test.PerClassIoU });
    }
}
