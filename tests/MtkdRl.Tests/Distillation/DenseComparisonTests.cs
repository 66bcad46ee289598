using MtkdRl.Backends;
using MtkdRl.Distillation;
using MtkdRl.Reports;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Training;

namespace MtkdRl.Tests.Distillation;

/// <summary>A comparison on scenes: each run's final test mIoU feeds the report's mean ± std and Welch p against none.</summary>
public sealed class DenseComparisonTests
{
    /// <summary>The none and aver rows of a comparison over two seeds against those runs' final figures: mean, std, change, Welch p.</summary>
    internal static void AssertRowsOf(Comparison comparison, double[] none, double[] aver)
    {
        var averRow = comparison.Rows.Single(r => r.Strategy == "aver");
        var noneRow = comparison.Rows.Single(r => r.Strategy == "none");
        Assert.Equal((none[0] + none[1]) / 2, noneRow.MeanAccuracy, 12);
        Assert.Equal((aver[0] + aver[1]) / 2, averRow.MeanAccuracy, 12);
        Assert.Equal(Math.Abs(aver[0] - aver[1]) / Math.Sqrt(2), averRow.StdAccuracy, 12);
        Assert.Equal(averRow.MeanAccuracy - noneRow.MeanAccuracy, averRow.DeltaVsBaseline, 12);
        Assert.Equal(WelchTest.TwoSided(aver, none).P, averRow.PValue, 12);
        Assert.True(double.IsNaN(noneRow.PValue));
    }

    [Fact]
    public void The_report_ranks_the_runs_final_mIoU_against_none_and_a_second_call_reads_the_runs_back()
    {
        using var temp = new TempFolder();
        var (data, pool) = DenseDistillRunTests.Setup(temp);
        var plan = new ComparisonPlan(["none", "aver"], [1UL, 2UL], new DistillRecipe { Student = "unet:4x8", Epochs = 1, BatchSize = 8 });
        string outDir = Path.Combine(temp.Root, "compare");
        using var backend = BackendCatalog.Create("native");
        var run = new DenseDistillRun(data, pool, TrainingTestCompute.Shared, backend);
        var runs = DenseComparisonRunner.Run(run, plan, outDir, ["a", "b"]);
        var comparison = Comparison.Build(runs, "none", DenseComparisonRunner.Metric);

        double Final(string strategy, int seed)
        {
            var summary = MtkdRl.Teachers.JsonFiles.Read<DenseDistillSummary>(Path.Combine(outDir, "runs", $"{strategy}-seed{seed}", "summary.json"), "summary");
            Assert.Equal("segmentation", summary.Task);
            return summary.FinalTestMeanIoU;
        }
        AssertRowsOf(comparison, [Final("none", 1), Final("none", 2)], [Final("aver", 1), Final("aver", 2)]);

        string markdown = ComparisonReport.Markdown(comparison, "scenes");
        Assert.Contains("| test mIoU (mean ± std) | vs none |", markdown);
        Assert.DoesNotContain("test accuracy", markdown);
        Assert.Equal("test mIoU (mean ± std)", ComparisonRows.Header(comparison)[2]);

        var again = DenseComparisonRunner.Run(run, plan, outDir, ["a", "b"]);
        Assert.Equal(runs.Select(r => r.FinalTestAccuracy), again.Select(r => r.FinalTestAccuracy));
        Assert.Equal(runs.SelectMany(r => r.Epochs.Select(e => e.Seconds)), again.SelectMany(r => r.Epochs.Select(e => e.Seconds)));
    }

    /// <summary>Two runs at a time, each lane with its own backend and compute, give every run exactly as one at a time does.</summary>
    [Fact]
    public void Runs_side_by_side_are_the_runs_made_one_at_a_time()
    {
        using var temp = new TempFolder();
        var (data, pool) = DenseDistillRunTests.Setup(temp);
        var plan = new ComparisonPlan(["none", "aver", "mtkd-rl-ppo"], [1UL, 2UL], new DistillRecipe { Student = "unet:4x8", Epochs = 1, BatchSize = 8 });
        IReadOnlyList<RunRecord> Compare(string dir, int jobs) => DenseComparisonRunner.Run(() =>
        {
            var backend = BackendCatalog.Create("native", 1);
            var compute = new MtkdRl.Training.CpuCompute(1);
            return new DenseWorker<DenseEpoch>(new DenseDistillRun(data, pool, compute, backend).Run, backend, compute);
        }, jobs, plan, Path.Combine(temp.Root, dir), ["a", "b"]);
        var one = Compare("one", 1);
        var two = Compare("two", 2);
        Assert.Equal(6, two.Count);
        Assert.Equal(one.Select(r => (r.Strategy, r.Seed)), two.Select(r => (r.Strategy, r.Seed)));
        Assert.Equal(one.Select(r => (r.FinalTestAccuracy, r.Epochs[^1].TrainLoss)), two.Select(r => (r.FinalTestAccuracy, r.Epochs[^1].TrainLoss)));
        foreach (var r in plan.Recipes)
        {
            string run = Path.Combine("runs", $"{r.Strategy}-seed{r.Seed}", "student.safetensors");
            Assert.Equal(File.ReadAllBytes(Path.Combine(temp.Root, "one", run)), File.ReadAllBytes(Path.Combine(temp.Root, "two", run)));
        }
    }
}
