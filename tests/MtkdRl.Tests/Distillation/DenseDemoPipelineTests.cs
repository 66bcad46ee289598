using MtkdRl.Backends;
using MtkdRl.Data.Scenes;
using MtkdRl.Distillation;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Scenes;
using MtkdRl.Tests.Training;

namespace MtkdRl.Tests.Distillation;

/// <summary>The segmentation demo's wiring on tiny sizes: scenes, pool, its cache, every demo strategy's runs and the mIoU report; a second pass repeats nothing.</summary>
public sealed class DenseDemoPipelineTests
{
    [Fact]
    public void The_demo_composes_scenes_trains_the_pool_and_reports_every_strategy_on_mIoU_once()
    {
        using var temp = new TempFolder();
        var source = SceneSources.Rings3(temp.Sub("source"), trainCount: 24, testCount: 12);
        var settings = new DenseDemoSettings(Path.Combine(temp.Root, "demo"), null, "unet:4x8", 1, 1, 8,
            new SceneOptions { Canvas = 24, TrainCount = 40, TestCount = 8, Seed = 5 }, DenseDistillRunTests.TinyTeachers);
        var demo = new DenseDemoPipeline(settings);
        using var backend = BackendCatalog.Create("native");

        var data = demo.Scenes(source);
        Assert.Equal((40, 8, 24), (data.Train.Count, data.Test.Count, data.Train.Canvas));
        Assert.All(demo.TrainPool(data, TrainingTestCompute.Shared), t => Assert.False(t.Skipped));
        var cache = demo.CacheTeachers(data, TrainingTestCompute.Shared, backend);
        Assert.NotNull(cache);
        Assert.Equal(Path.Combine(demo.PoolDir, "cache-train-24x24.mtkc"), cache.Path);
        Assert.Null(demo.CacheTeachers(data, TrainingTestCompute.Shared, backend)); // current: kept
        var result = demo.Compare(data, TrainingTestCompute.Shared, backend);
        Assert.Equal(DenseDemoPipeline.Strategies.Order(), result.Comparison.Rows.Select(r => r.Strategy).Order());
        Assert.Equal("none", result.Comparison.Baseline);
        Assert.Contains("test mIoU (mean ± std)", File.ReadAllText(Path.Combine(settings.Out, "comparison.md")));

        var again = new DenseDemoPipeline(settings);
        Assert.All(again.TrainPool(again.Scenes(), TrainingTestCompute.Shared), t => Assert.True(t.Skipped));
        var second = again.Compare(again.Scenes(), TrainingTestCompute.Shared, backend);
        Assert.Equal(result.Comparison.Runs.Select(r => r.Epochs[^1].Seconds), second.Comparison.Runs.Select(r => r.Epochs[^1].Seconds));
    }
}
