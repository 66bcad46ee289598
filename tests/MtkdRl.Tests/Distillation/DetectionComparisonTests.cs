using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Data.Datasets;
using MtkdRl.Data.Scenes;
using MtkdRl.Distillation;
using MtkdRl.Reports;
using MtkdRl.Teachers;
using MtkdRl.Tests.Cli;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Training;

namespace MtkdRl.Tests.Distillation;

/// <summary>
/// A comparison on scenes with a detection pool: each run's final test AP feeds the report's mean ± std and Welch p
/// against none, the same runs' AP50 a second report; `compare` and the detection demo run it at tiny sizes.
/// </summary>
[Collection("console")]
public sealed class DetectionComparisonTests
{
    [Fact]
    public void The_report_ranks_the_runs_final_AP_and_AP50_against_none_and_a_second_call_reads_the_runs_back()
    {
        using var temp = new TempFolder();
        var (scenes, dir, pool) = DetectionDistillRunTests.Setup(temp);
        var plan = new ComparisonPlan(["none", "aver"], [1UL, 2UL], new DistillRecipe { Student = DetectionDistillRunTests.Student, Epochs = 2, BatchSize = 8 });
        string outDir = Path.Combine(temp.Root, "compare");
        using var backend = BackendCatalog.Create("native");
        var run = new DetectionDistillRun(scenes, pool, TrainingTestCompute.Shared, backend);
        var result = DenseComparisonRunner.Compare(run, plan, outDir, ["a", "b"], "none", "scenes");

        DetectionDistillSummary Summary(string strategy, int seed)
        {
            var summary = JsonFiles.Read<DetectionDistillSummary>(Path.Combine(outDir, "runs", $"{strategy}-seed{seed}", "summary.json"), "summary");
            Assert.Equal("detection", summary.Task);
            return summary;
        }
        foreach (var (comparison, figure) in new[] { (result.Main, (Func<DetectionDistillSummary, double>)(s => s.FinalTestAp)), (result.Ap50!, s => s.FinalTestAp50) })
            DenseComparisonTests.AssertRowsOf(comparison, [figure(Summary("none", 1)), figure(Summary("none", 2))], [figure(Summary("aver", 1)), figure(Summary("aver", 2))]);
        Assert.Contains("| test AP (mean ± std) | vs none |", File.ReadAllText(Path.Combine(outDir, "comparison.md")));
        Assert.Contains("ap50/comparison.md", File.ReadAllText(Path.Combine(outDir, "comparison.md")));
        Assert.Contains("| test AP50 (mean ± std) | vs none |", File.ReadAllText(Path.Combine(outDir, DenseComparisonRunner.Ap50Folder, "comparison.md")));
        Assert.True(File.Exists(Path.Combine(outDir, DenseComparisonRunner.Ap50Folder, "accuracy.png")));
        // Every run's AP50 is at least its AP, and the two reports differ somewhere unless every AP is 0.
        Assert.All(result.Main.Runs.Zip(result.Ap50!.Runs), p => Assert.True(p.Second.FinalTestAccuracy >= p.First.FinalTestAccuracy));

        var again = DenseComparisonRunner.Compare(run, plan, outDir, ["a", "b"], "none", "scenes");
        Assert.Equal(result.Main.Runs.Select(r => r.FinalTestAccuracy), again.Main.Runs.Select(r => r.FinalTestAccuracy));
        Assert.Equal(result.Main.Runs.SelectMany(r => r.Epochs.Select(e => e.Seconds)), again.Main.Runs.SelectMany(r => r.Epochs.Select(e => e.Seconds)));

        string cliOut = Path.Combine(temp.Root, "cli");
        var cli = CliRun.Run("compare", "--data", dir, "--pool", pool, "--student", DetectionDistillRunTests.Student, "--strategies", "none,aver",
            "--seeds", "1", "--epochs", "1", "--batch", "8", "--threads", "2", "--out", cliOut);
        CliRun.AssertOk(cli);
        Assert.Contains("test AP (mean ± std)", File.ReadAllText(Path.Combine(cliOut, "comparison.md")));
        Assert.True(File.Exists(Path.Combine(cliOut, DenseComparisonRunner.Ap50Folder, "comparison.csv")));
        CliRun.AssertOneLineError(CliRun.Run("compare", "--data", dir, "--pool", pool, "--student", "unet:4x8", "--strategies", "none",
            "--seeds", "1", "--epochs", "1", "--batch", "8", "--out", cliOut), "is not a detector");
    }

    [Fact]
    public void The_detection_demo_composes_scenes_trains_and_caches_the_pool_and_reports_every_strategy_on_AP_once()
    {
        using var temp = new TempFolder();
        var source = DatasetLocator.Load(Path.Combine(RepositoryPaths.Root, DatasetLocator.CommittedSlice));
        var teachers = PoolRecipe.Parse("""
            { "task": "detection", "seed": 2, "teachers": [
              { "name": "a", "spec": "det:4x4x4", "epochs": 1, "batch": 8, "optimizer": "adam", "lr": 0.003, "augment": "none" },
              { "name": "b", "spec": "det:4x4x4x4", "epochs": 1, "batch": 8, "optimizer": "adam", "lr": 0.003, "augment": "none" } ] }
            """, "test recipe");
        var settings = new DenseDemoSettings(Path.Combine(temp.Root, "demo"), null, DetectionDistillRunTests.Student, 1, 1, 8,
            new SceneOptions { Canvas = 40, TrainCount = 32, TestCount = 8, Seed = 2 }, teachers, TaskKind.Detection);
        var demo = new DenseDemoPipeline(settings);
        using var backend = BackendCatalog.Create("native");

        demo.Scenes(source);
        var scenes = DetectionScenes.Load(demo.ScenesDir);
        Assert.Equal((32, 8, 40), (scenes.Train.Count, scenes.Test.Count, scenes.Canvas));
        Assert.All(demo.TrainDetectionPool(scenes, TrainingTestCompute.Shared), t => Assert.False(t.Skipped));
        var cache = demo.CacheDetectionTeachers(scenes, TrainingTestCompute.Shared, backend);
        Assert.NotNull(cache);
        Assert.Equal(Path.Combine(demo.PoolDir, "cache-train-10x10.mtkc"), cache.Path);
        var result = demo.CompareDetection(scenes, TrainingTestCompute.Shared, backend);
        Assert.Equal(DenseDemoPipeline.Strategies.Order(), result.Comparison.Rows.Select(r => r.Strategy).Order());
        Assert.Equal(("none", "test AP"), (result.Comparison.Baseline, result.Comparison.Metric));
        Assert.Contains("test AP (mean ± std)", File.ReadAllText(Path.Combine(settings.Out, "comparison.md")));
        Assert.Contains("on AP50", result.Reading);

        var again = new DenseDemoPipeline(settings);
        Assert.All(again.TrainDetectionPool(scenes, TrainingTestCompute.Shared), t => Assert.True(t.Skipped));
        Assert.Null(again.CacheDetectionTeachers(scenes, TrainingTestCompute.Shared, backend));
        var second = again.CompareDetection(scenes, TrainingTestCompute.Shared, backend);
        Assert.Equal(result.Comparison.Runs.Select(r => r.Epochs[^1].Seconds), second.Comparison.Runs.Select(r => r.Epochs[^1].Seconds));
    }
}
