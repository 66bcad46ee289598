using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Data.Scenes;
using MtkdRl.Distillation;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Training;

namespace MtkdRl.Tests.Distillation;

/// <summary>A dense run's folder: a run stopped after its first epoch and resumed ends exactly as the run left alone; tasks do not mix.</summary>
public sealed class DenseDistillResumeTests
{
    internal sealed class Stop : Exception;

    private static IReadOnlyList<DenseEpoch> Run(SceneDataset data, string pool, DistillRecipe recipe, string outDir, bool resume, Action<DenseEpoch>? done = null)
    {
        using var backend = BackendCatalog.Create("native");
        return new DenseDistillRun(data, pool, TrainingTestCompute.Shared, backend).Run(recipe, outDir, resume, done);
    }

    /// <summary>
    /// <paramref name="run"/> (folder, resume, epoch callback) left alone for two epochs in one folder, and stopped
    /// after epoch 1 then resumed in another: the same <paramref name="figures"/> and weights every epoch, the same
    /// student and state bytes, the same summary, the folder marked with <paramref name="task"/>.
    /// </summary>
    internal static void AssertResumesBitForBit<TEpoch>(string root, Func<string, bool, Action<TEpoch>?, IReadOnlyList<TEpoch>> run,
        Func<TEpoch, object> figures, string task) where TEpoch : IDenseEpoch
    {
        string whole = Path.Combine(root, "whole"), parts = Path.Combine(root, "parts");
        var expected = run(whole, false, null);

        Assert.Throws<Stop>(() => run(parts, false, e => throw new Stop()));
        Assert.Equal(1, DistillCheckpoint.ReadState(parts).Epoch);
        Assert.False(File.Exists(Path.Combine(parts, "summary.json")));
        var actual = run(parts, true, null);

        Assert.Equal(2, actual.Count);
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(figures(expected[i]), figures(actual[i]));
            Assert.Equal(expected[i].MeanWl, actual[i].MeanWl);
        }
        foreach (string file in new[] { "student.safetensors", DistillCheckpoint.StateTensors })
            Assert.Equal(File.ReadAllBytes(Path.Combine(whole, file)), File.ReadAllBytes(Path.Combine(parts, file)));
        Assert.Equal(File.ReadAllText(Path.Combine(whole, "summary.json")), File.ReadAllText(Path.Combine(parts, "summary.json")));
        Assert.Contains($"\"{task}\"", File.ReadAllText(Path.Combine(parts, "summary.json")));
        Assert.Equal(task, DistillCheckpoint.ReadState(parts).Task);
    }

    [Theory]
    [InlineData("mtkd-rl-ppo", false)]
    [InlineData("mtkd-rl-ppo", true)]
    [InlineData("ca-mkd", false)]
    public void A_run_stopped_after_epoch_one_and_resumed_ends_bit_for_bit_as_the_whole_run(string strategy, bool perPixel)
    {
        using var temp = new TempFolder();
        var (data, pool) = DenseDistillRunTests.Setup(temp);
        var recipe = new DistillRecipe { Student = "unet:4x8", Strategy = strategy, Epochs = 2, BatchSize = 8, Seed = 3, PerPixelWeights = perPixel };
        AssertResumesBitForBit<DenseEpoch>(temp.Root, (dir, resume, done) => Run(data, pool, recipe, dir, resume, done),
            e => (e.Epoch, e.Loss, e.TestMeanIoU, e.TestPixelAccuracy), "segmentation");
    }

    [Fact]
    public void A_run_with_channel_wise_kd_resumes_bit_for_bit_and_refuses_another_setting()
    {
        using var temp = new TempFolder();
        var (data, pool) = DenseDistillRunTests.Setup(temp);
        var recipe = new DistillRecipe { Student = "unet:4x8", Strategy = "mtkd-rl-ppo", Epochs = 2, BatchSize = 8, Seed = 3, ChannelKdWeight = 0.5f };
        AssertResumesBitForBit<DenseEpoch>(temp.Root, (dir, resume, done) => Run(data, pool, recipe, dir, resume, done),
            e => (e.Epoch, e.Loss, e.TestMeanIoU, e.TestPixelAccuracy), "segmentation");
        string parts = Path.Combine(temp.Root, "parts"), statePath = Path.Combine(parts, DistillCheckpoint.StateJson);
        var other = Assert.Throws<MtkdInputException>(() => Run(data, pool, recipe with { ChannelTemperature = 2f }, parts, resume: true));
        Assert.Equal($"{statePath}: the run's channel-wise KD is lambda 0.5 at tau 4, --resume asks for lambda 0.5 at tau 2; " +
            "give the run's --channel-kd and --channel-temperature or choose another --out", other.Message);
        var off = Assert.Throws<MtkdInputException>(() => Run(data, pool, recipe with { ChannelKdWeight = 0 }, parts, resume: true));
        Assert.Contains("is lambda 0.5 at tau 4, --resume asks for off", off.Message);
        // The term is in the loss: the same run without it ends elsewhere.
        var without = Run(data, pool, recipe with { ChannelKdWeight = 0 }, Path.Combine(temp.Root, "without"), resume: false);
        var with = Run(data, pool, recipe, Path.Combine(temp.Root, "again"), resume: false);
        Assert.NotEqual(without[^1].Loss, with[^1].Loss);
    }

    [Fact]
    public void A_folder_of_another_task_or_a_run_without_resume_is_refused_in_one_line()
    {
        using var temp = new TempFolder();
        var (data, pool) = DenseDistillRunTests.Setup(temp);
        var recipe = new DistillRecipe { Student = "unet:4x8", Strategy = "aver", Epochs = 1, BatchSize = 8, Seed = 3 };
        string dir = Path.Combine(temp.Root, "run"), statePath = Path.Combine(dir, DistillCheckpoint.StateJson);
        Run(data, pool, recipe, dir, resume: false);

        var again = Assert.Throws<MtkdInputException>(() => Run(data, pool, recipe, dir, resume: false));
        Assert.Equal($"{statePath}: a run is already there; pass --resume to continue it or choose another --out", again.Message);
        var perPixel = Assert.Throws<MtkdInputException>(() => Run(data, pool, recipe with { PerPixelWeights = true }, dir, resume: true));
        Assert.Equal($"{statePath}: the run weighs its teachers per image, --resume asks for per pixel; drop --per-pixel-weights or choose another --out", perPixel.Message);
        var asClassification = Assert.Throws<MtkdInputException>(() => DistillCheckpoint.ReadState(dir).RequireTask(TaskKind.Classification, dir));
        Assert.Equal($"{statePath}: made for segmentation, but this needs classification", asClassification.Message);

        MtkdRl.Teachers.JsonFiles.Write(statePath, DistillCheckpoint.ReadState(dir) with { Task = null });
        var asScenes = Assert.Throws<MtkdInputException>(() => Run(data, pool, recipe, dir, resume: true));
        Assert.Equal($"{statePath}: made for classification, but this needs segmentation", asScenes.Message);
    }
}
