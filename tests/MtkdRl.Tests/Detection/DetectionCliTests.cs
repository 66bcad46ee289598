using System.Text.Json;
using MtkdRl.Core.Formats;
using MtkdRl.Data.Datasets;
using MtkdRl.Reports.Metrics;
using MtkdRl.Teachers;
using MtkdRl.Tests.Cli;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Teachers;
using MtkdRl.Tests.Training;
using MtkdRl.Training;

namespace MtkdRl.Tests.ObjectDetection;

/// <summary>Detector pools end to end on a few scenes made from the committed slice: train, eval, task checks, resume.</summary>
[Collection("console")]
public class DetectionCliTests
{
    private static string Slice => Path.Combine(RepositoryPaths.Root, DatasetLocator.CommittedSlice);

    private const string TinyRecipe = """
        { "task": "detection", "seed": 3, "teachers": [
          { "name": "tiny", "spec": "det:4x4x4", "epochs": 2, "batch": 8, "optimizer": "adam", "lr": 0.003, "augment": "auto" } ] }
        """;

    private static string MakeScenes(TempFolder temp)
    {
        string dir = Path.Combine(temp.Root, "scenes");
        CliRun.AssertOk(CliRun.Run("data", "scenes", "--from", Slice, "--out", dir, "--train", "24", "--test", "8", "--seed", "2"));
        return dir;
    }

    [Fact]
    public void Trains_a_detector_pool_and_eval_writes_coco_results_that_score_the_same()
    {
        using var temp = new TempFolder();
        string scenes = MakeScenes(temp);
        string recipe = Path.Combine(temp.Root, "recipe.json");
        File.WriteAllText(recipe, TinyRecipe);
        string pool = Path.Combine(temp.Root, "pool");
        var train = CliRun.Run("teachers", "train", "--recipe", recipe, "--data", scenes, "--pool", pool, "--threads", "2");
        CliRun.AssertOk(train);
        Assert.Contains("test AP", train.Out);
        var manifest = PoolManifest.Read(pool, MtkdRl.Core.TaskKind.Detection);
        Assert.Equal("detection", manifest.Task);
        Assert.Equal((10, 8, 24), (manifest.Classes, manifest.TestRows, manifest.TrainRows));
        Assert.Equal("det:4x4x4", Assert.Single(manifest.Teachers).Spec);

        string results = Path.Combine(temp.Root, "dets.json"), json = Path.Combine(temp.Root, "ap.json");
        var eval = CliRun.Run("eval", "--model", Path.Combine(pool, "tiny"), "--data", scenes, "--detections", results, "--json", json, "--threads", "2");
        CliRun.AssertOk(eval);
        var truth = CocoFiles.ReadInstances(Path.Combine(scenes, "instances_test.json"));
        var dets = CocoFiles.ReadDetections(results, truth);
        Assert.All(dets.GroupBy(d => d.ImageId), g => Assert.True(g.Count() <= 100));
        var expected = CocoBoxEvaluation.Summarise(truth, dets);
        var written = JsonSerializer.Deserialize<Dictionary<string, double>>(File.ReadAllText(json))!;
        Assert.Equal(["AP", "AP50", "AP75", "AR100"], written.Keys);
        Assert.Equal(expected.AP, written["AP"], 12);
        Assert.Equal(expected.AR100, written["AR100"], 12);
        Assert.Contains($"AP {expected.AP:F4}  AP50 {expected.AP50:F4}", eval.Out);
        Assert.Equal(manifest.Teachers[0].TestAccuracy, expected.AP, 9);

        // Tasks do not mix: a classification preset into this pool, a detection recipe on a classification dataset.
        CliRun.AssertOneLineError(CliRun.Run("teachers", "train", "--preset", "quick", "--data", Slice, "--pool", pool, "--epochs", "1"),
            "pool.json: made for detection, but this needs classification");
        CliRun.AssertOneLineError(CliRun.Run("teachers", "cache", "--pool", pool, "--data", Slice),
            "pool.json: made for detection, but this needs classification");
        CliRun.AssertOneLineError(CliRun.Run("distill", "--pool", pool, "--data", Slice, "--epochs", "1", "--out", Path.Combine(temp.Root, "run")),
            "pool.json: made for detection, but this needs classification");
        CliRun.AssertOneLineError(CliRun.Run("teachers", "train", "--recipe", recipe, "--data", Slice, "--pool", Path.Combine(temp.Root, "p2")),
            "dataset.json");
        CliRun.AssertOneLineError(CliRun.Run("eval", "--model", Path.Combine(pool, "tiny"), "--data", Slice),
            "dataset.json: missing (not a scenes folder");
        CliRun.AssertOneLineError(CliRun.Run("eval", "--model", Path.Combine(pool, "tiny")),
            "is a detector; --data must name a scenes folder");
    }

    [Fact]
    public void The_detection_presets_hold_heterogeneous_detectors()
    {
        var quick = PoolPresets.Recipe("det-quick");
        var full = PoolPresets.Recipe("det-default");
        Assert.Equal("detection", quick.Task);
        Assert.True(quick.Teachers.Count >= 3 && full.Teachers.Count >= 4);
        foreach (var t in quick.Teachers.Concat(full.Teachers)) Assert.Equal(ModelFamily.Det, ModelSpec.Parse(t.Spec).Family);
        Assert.Equal(quick.Teachers.Count, quick.Teachers.Select(t => t.Spec).Distinct().Count());
        Assert.Contains(full.Teachers, t => t.Subset > 0);
        var e = Assert.Throws<MtkdRl.Core.MtkdInputException>(() => PoolPresets.Get("det-quick", TeacherTestData.Tiny, 1));
        Assert.Equal("preset 'det-quick': made for detection, but this needs classification", e.Message);
    }

    [Fact]
    public void An_interrupted_detector_resumes_bit_for_bit()
    {
        using var temp = new TempFolder();
        var scenes = DetectionScenes.Load(MakeScenes(temp));
        var recipe = new TrainingRecipe { Spec = "det:4x4x4", Epochs = 3, BatchSize = 8, Optimizer = "adam", LearningRate = 0.003, HorizontalFlip = true, Seed = 9 };
        var trainer = new DetectorTrainer(scenes, TrainingTestCompute.Shared);
        string straight = Path.Combine(temp.Root, "straight"), resumed = Path.Combine(temp.Root, "resumed");
        Assert.True(trainer.Train("a", recipe, straight).Completed);

        using var cancel = new CancellationTokenSource();
        var first = trainer.Train("a", recipe, resumed, observer: new CancelAfter(2, cancel), cancel: cancel.Token);
        Assert.False(first.Completed);
        Assert.Equal(2, first.Checkpoint.Epoch);
        var second = trainer.Train("a", recipe, resumed);
        Assert.True(second.Completed && second.Resumed);
        Assert.Equal(File.ReadAllBytes(straight + ".safetensors"), File.ReadAllBytes(resumed + ".safetensors"));

        var other = recipe with { LearningRate = 0.001 };
        var e = Assert.Throws<MtkdRl.Core.MtkdInputException>(() => trainer.Train("a", other, resumed));
        Assert.Contains("was trained with another recipe", e.Message);
    }

    private sealed class CancelAfter(int epochs, CancellationTokenSource cancel) : ITrainingObserver
    {
        public void EpochStarted(string model, int epoch, int epochs1, int batches) { }
        public void BatchDone(string model, int batch, double loss) { }
        public void EpochDone(EpochMetrics metrics) { if (metrics.Epoch >= epochs) cancel.Cancel(); }
    }
}
