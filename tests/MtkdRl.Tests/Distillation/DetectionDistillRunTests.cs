using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Data.Datasets;
using MtkdRl.Distillation;
using MtkdRl.Teachers;
using MtkdRl.Tests.Cli;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Training;

namespace MtkdRl.Tests.Distillation;

/// <summary>
/// A detection distillation run on a few scenes from the committed slice, with two live teachers on different
/// grids (stride 4 like the student, stride 8 read on the student's grid): every catalog strategy trains a
/// detector, a seed repeats its numbers, and `distill` on a detection pool runs it.
/// </summary>
[Collection("console")]
public sealed class DetectionDistillRunTests
{
    internal const string Student = "det:4x4x4";

    /// <summary>Scenes of the slice (32 train, 8 test) and a pool of two one-epoch detectors trained on them.</summary>
    internal static (DetectionScenes Scenes, string Dir, string Pool) Setup(TempFolder temp)
    {
        string dir = Path.Combine(temp.Root, "scenes");
        CliRun.AssertOk(CliRun.Run("data", "scenes", "--from", Path.Combine(RepositoryPaths.Root, DatasetLocator.CommittedSlice),
            "--out", dir, "--train", "32", "--test", "8", "--seed", "2"));
        var scenes = DetectionScenes.Load(dir);
        string pool = Path.Combine(temp.Root, "pool");
        var recipe = PoolRecipe.Parse("""
            { "task": "detection", "seed": 2, "teachers": [
              { "name": "a", "spec": "det:4x4x4", "epochs": 1, "batch": 8, "optimizer": "adam", "lr": 0.003, "augment": "none" },
              { "name": "b", "spec": "det:4x4x4x4", "epochs": 1, "batch": 8, "optimizer": "adam", "lr": 0.003, "augment": "none" } ] }
            """, "test recipe");
        DetectionPool.Train(pool, scenes, recipe, "test recipe", TrainingTestCompute.Shared);
        return (scenes, dir, pool);
    }

    [Fact]
    public void Every_strategy_trains_a_detector_a_seed_repeats_its_numbers_and_distill_runs_it()
    {
        using var temp = new TempFolder();
        var (scenes, dir, pool) = Setup(temp);
        foreach (string name in MtkdRl.Strategies.StrategyCatalog.Names)
        {
            var recipe = new DistillRecipe { Student = Student, Strategy = name, Epochs = 1, BatchSize = 8, Seed = 3, FixedWeights = name == "fixed" ? "1,3" : null };
            using var backend = BackendCatalog.Create("native");
            var run = new DetectionDistillRun(scenes, pool, TrainingTestCompute.Shared, backend);
            var first = Assert.Single(run.Run(recipe));
            var second = Assert.Single(run.Run(recipe));
            Assert.True(double.IsFinite(first.Loss) && first.Loss > 0 && first.TestAp is >= 0 and <= 1 && first.TestAp50 >= first.TestAp,
                $"{name}: loss {first.Loss}, AP {first.TestAp}, AP50 {first.TestAp50}");
            Assert.Equal((first.Loss, first.TestAp, first.TestAp50), (second.Loss, second.TestAp, second.TestAp50));
            Assert.Equal(first.MeanWl, second.MeanWl);
            if (name == "aver") Assert.Equal([0.5f, 0.5f], first.MeanWl);
            if (name == "none") Assert.Equal([0f, 0f], first.MeanWl);
        }
        var other = new DetectionDistillRun(scenes, pool, TrainingTestCompute.Shared, BackendCatalog.Create("native"))
            .Run(new DistillRecipe { Student = Student, Strategy = "aver", Epochs = 1, BatchSize = 8, Seed = 4 });
        var same = new DetectionDistillRun(scenes, pool, TrainingTestCompute.Shared, BackendCatalog.Create("native"))
            .Run(new DistillRecipe { Student = Student, Strategy = "aver", Epochs = 1, BatchSize = 8, Seed = 3 });
        Assert.NotEqual(same[0].Loss, other[0].Loss);

        var cli = CliRun.Run("distill", "--data", dir, "--pool", pool, "--student", Student, "--strategy", "aver", "--epochs", "1", "--batch", "8", "--threads", "2",
            "--out", Path.Combine(temp.Root, "cli-run"));
        CliRun.AssertOk(cli);
        Assert.Contains($"test AP {same[0].TestAp:F4}, AP50 {same[0].TestAp50:F4}", cli.Out);
        CliRun.AssertOneLineError(CliRun.Run("distill", "--data", dir, "--pool", pool, "--student", "unet:4x8", "--epochs", "1", "--batch", "8",
            "--out", Path.Combine(temp.Root, "refused")),
            "--student unet:4x8 is not a detector");
        CliRun.AssertOneLineError(CliRun.Run("distill", "--data", dir, "--pool", pool, "--student", "det:4x4x4x4", "--epochs", "1", "--batch", "8",
            "--out", Path.Combine(temp.Root, "refused")),
            "cannot be read on the grid of student");
    }
}
