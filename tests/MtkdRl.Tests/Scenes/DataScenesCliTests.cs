using MtkdRl.Data.Datasets;
using MtkdRl.Data.Scenes;
using MtkdRl.Tests.Cli;
using MtkdRl.Tests.Data;

namespace MtkdRl.Tests.Scenes;

/// <summary>`mtkd data scenes` on the committed Fashion-MNIST slice, and its one-line errors.</summary>
[Collection("console")]
public class DataScenesCliTests
{
    private static string Slice => Path.Combine(RepositoryPaths.Root, DatasetLocator.CommittedSlice);

    [Fact]
    public void Makes_scenes_from_the_committed_slice()
    {
        using var temp = new TempFolder();
        string dir = Path.Combine(temp.Root, "scenes");
        var run = CliRun.Run("data", "scenes", "--from", Slice, "--out", dir, "--train", "30", "--test", "12", "--seed", "5");
        CliRun.AssertOk(run);
        Assert.Contains("wrote 30 train canvases", run.Out);

        var scenes = SceneDataset.Load(dir);
        var source = DatasetLocator.Load(Slice);
        Assert.Equal(source.ClassNames, scenes.Descriptor.Classes);
        Assert.Equal(source.FingerprintHex, scenes.Descriptor.Source.Fingerprint);
        Assert.True(scenes.Descriptor.MirrorInvariant);
        Assert.Equal((64, 30, 12), (scenes.Descriptor.Canvas, scenes.Train.Count, scenes.Test.Count));
        Assert.Equal(30 * 64 * 64, scenes.Train.Masks.Length);
        Assert.Contains(scenes.Train.Masks, v => v is > 0 and < 255);
        Assert.Contains(scenes.Train.Masks, v => v == 255);
        Assert.Contains(scenes.Train.Masks, v => v == 0);
        Assert.True(File.Exists(Path.Combine(dir, "instances_test.json")));
    }

    [Theory]
    [InlineData("--objects 0-4", "--objects 0-4: expected A-B with 1 <= A <= B <= 16")]
    [InlineData("--objects 1-x", "--objects '1-x': expected A-B with integers")]
    [InlineData("--scale 0.6-1.4-2", "--scale '0.6-1.4-2': expected A-B")]
    [InlineData("--scale 2-1", "--scale 2-1: expected A-B with 0 < A <= B <= 8")]
    [InlineData("--canvas 0", "--canvas must be in 4..1024 (got 0)")]
    [InlineData("--canvas 32", "--canvas 32 is smaller than the largest scaled object (1.4 x 28 = 39 pixels)")]
    [InlineData("--train 0", "--train must be at least 1 (got 0)")]
    public void Bad_options_are_one_line_errors(string options, string expected)
    {
        using var temp = new TempFolder();
        string dir = Path.Combine(temp.Root, "scenes");
        var run = CliRun.Run(["data", "scenes", "--from", Slice, "--out", dir, .. options.Split(' ')]);
        CliRun.AssertOneLineError(run, expected);
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public void A_missing_source_or_action_is_a_one_line_error()
    {
        using var temp = new TempFolder();
        CliRun.AssertOneLineError(CliRun.Run("data", "scenes", "--out", temp.Root), "data scenes: --from must name the source dataset folder");
        CliRun.AssertOneLineError(CliRun.Run("data", "scenes", "--from", Path.Combine(temp.Root, "nope"), "--out", temp.Root), "nope: no such directory");
        CliRun.AssertOneLineError(CliRun.Run("data", "mosaic"), "data: unknown action 'mosaic' (known: scenes)");
    }
}
