using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Distillation;
using MtkdRl.Teachers;
using MtkdRl.Tests.Cli;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Training;

namespace MtkdRl.Tests.Distillation;

/// <summary>A detection run's folder: a run stopped after its first epoch and resumed ends exactly as the run left alone; tasks do not mix.</summary>
[Collection("console")]
public sealed class DetectionDistillResumeTests
{
    private static IReadOnlyList<DetectionDistillEpoch> Run(DetectionScenes scenes, string pool, DistillRecipe recipe, string outDir, bool resume,
        Action<DetectionDistillEpoch>? done = null)
    {
        using var backend = BackendCatalog.Create("native");
        return new DetectionDistillRun(scenes, pool, TrainingTestCompute.Shared, backend).Run(recipe, outDir, resume, done);
    }

    [Theory]
    [InlineData("mtkd-rl-ppo")]
    [InlineData("ca-mkd")]
    [InlineData("none")]
    public void A_run_stopped_after_epoch_one_and_resumed_ends_bit_for_bit_as_the_whole_run(string strategy)
    {
        using var temp = new TempFolder();
        var (scenes, _, pool) = DetectionDistillRunTests.Setup(temp);
        var recipe = new DistillRecipe { Student = DetectionDistillRunTests.Student, Strategy = strategy, Epochs = 2, BatchSize = 8, Seed = 3 };
        DenseDistillResumeTests.AssertResumesBitForBit<DetectionDistillEpoch>(temp.Root, (dir, resume, done) => Run(scenes, pool, recipe, dir, resume, done),
            e => (e.Epoch, e.Loss, e.TestAp, e.TestAp50), "detection");
        // Two epochs that differ, and a student checkpoint that is a detector's, as eval reads it.
        var epochs = MtkdRl.Teachers.JsonFiles.ReadLines<DetectionDistillEpoch>(Path.Combine(temp.Root, "parts", "metrics.jsonl")).ToList();
        Assert.NotEqual(epochs[0].Loss, epochs[1].Loss);
        Assert.Equal(DetectionDistillRunTests.Student,
            DetectorCheckpoint.Load(Path.Combine(temp.Root, "parts", "student"), TrainingTestCompute.Shared).Detector.Spec.ToString());
    }

    [Fact]
    public void A_segmentation_run_folder_a_run_without_resume_or_another_recipe_is_refused_in_one_line()
    {
        using var temp = new TempFolder();
        var (scenes, dir, pool) = DetectionDistillRunTests.Setup(temp);
        var recipe = new DistillRecipe { Student = DetectionDistillRunTests.Student, Strategy = "aver", Epochs = 1, BatchSize = 8, Seed = 3 };
        string run = Path.Combine(temp.Root, "run"), statePath = Path.Combine(run, DistillCheckpoint.StateJson);
        Run(scenes, pool, recipe, run, resume: false);

        var again = Assert.Throws<MtkdInputException>(() => Run(scenes, pool, recipe, run, resume: false));
        Assert.Equal($"{statePath}: a run is already there; pass --resume to continue it or choose another --out", again.Message);
        var other = Assert.Throws<MtkdInputException>(() => Run(scenes, pool, recipe with { Seed = 4 }, run, resume: true));
        Assert.StartsWith($"{statePath}: --resume with another configuration", other.Message);

        MtkdRl.Teachers.JsonFiles.Write(statePath, DistillCheckpoint.ReadState(run) with { Task = "segmentation" });
        var asSegmentation = Assert.Throws<MtkdInputException>(() => Run(scenes, pool, recipe, run, resume: true));
        Assert.Equal($"{statePath}: made for segmentation, but this needs detection", asSegmentation.Message);

        string cliRun = Path.Combine(temp.Root, "cli");
        var cli = CliRun.Run("distill", "--data", dir, "--pool", pool, "--student", DetectionDistillRunTests.Student, "--strategy", "aver",
            "--epochs", "1", "--batch", "8", "--seed", "3", "--threads", "2", "--out", cliRun);
        CliRun.AssertOk(cli);
        Assert.True(File.Exists(Path.Combine(cliRun, "summary.json")));
        CliRun.AssertOneLineError(CliRun.Run("distill", "--data", dir, "--pool", pool, "--student", DetectionDistillRunTests.Student, "--strategy", "aver",
            "--epochs", "1", "--batch", "8", "--seed", "3", "--threads", "2", "--out", cliRun), "a run is already there");
    }
}
