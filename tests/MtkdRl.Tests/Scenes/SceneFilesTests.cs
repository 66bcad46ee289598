using System.Text.Json;
using MtkdRl.Core;
using MtkdRl.Data.Formats;
using MtkdRl.Data.Scenes;
using MtkdRl.Tests.Data;

namespace MtkdRl.Tests.Scenes;

/// <summary>The folder the generator writes: determinism, COCO boxes, dataset.json and reading it back.</summary>
public class SceneFilesTests
{
    private static readonly SceneOptions Small = new() { Canvas = 24, TrainCount = 25, TestCount = 10, Seed = 3 };

    private static readonly string[] Files =
        ["train/images.npy", "train/masks.npy", "test/images.npy", "test/masks.npy", "instances_train.json", "instances_test.json", "dataset.json"];

    [Fact]
    public void The_same_seed_gives_the_same_bytes_and_another_seed_other_bytes()
    {
        using var temp = new TempFolder();
        var data = SceneSources.Rings3(temp.Sub("source"));
        SceneGenerator.Write(data, Small, Path.Combine(temp.Root, "a"));
        SceneGenerator.Write(data, Small, Path.Combine(temp.Root, "b"));
        SceneGenerator.Write(data, Small with { Seed = 4 }, Path.Combine(temp.Root, "c"));
        foreach (string f in Files)
            Assert.Equal(File.ReadAllBytes(Path.Combine(temp.Root, "a", f)), File.ReadAllBytes(Path.Combine(temp.Root, "b", f)));
        foreach (string f in Files[..4])
            Assert.NotEqual(File.ReadAllBytes(Path.Combine(temp.Root, "a", f)), File.ReadAllBytes(Path.Combine(temp.Root, "c", f)));
        Assert.False(File.Exists(Path.Combine(temp.Root, "a", FolderLock.FileName)));
    }

    [Fact]
    public void Coco_instances_hold_every_kept_box_and_the_descriptor_the_source()
    {
        using var temp = new TempFolder();
        var data = SceneSources.Rings3(temp.Sub("source"), channels: 3);
        string dir = Path.Combine(temp.Root, "scenes");
        var result = SceneGenerator.Write(data, Small, dir);

        Assert.Equal([25, 3, 24, 24], NpyFile.ReadHeader(Path.Combine(dir, "train/images.npy")).Shape);
        Assert.Equal([10, 24, 24], NpyFile.ReadHeader(Path.Combine(dir, "test/masks.npy")).Shape);

        using var coco = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "instances_train.json")));
        var images = coco.RootElement.GetProperty("images");
        Assert.Equal(25, images.GetArrayLength());
        Assert.Equal("train/images.npy#4", images[4].GetProperty("file_name").GetString());
        var annotations = coco.RootElement.GetProperty("annotations").EnumerateArray().ToList();
        var expected = result.Train.Boxes.SelectMany((boxes, i) => boxes.Select(b => (i + 1, b.ClassIndex + 1, $"{b.X},{b.Y},{b.Width},{b.Height}", b.Area))).ToList();
        Assert.Equal(expected, annotations.Select(a => (a.GetProperty("image_id").GetInt32(), a.GetProperty("category_id").GetInt32(),
            string.Join(",", a.GetProperty("bbox").EnumerateArray().Select(v => v.GetInt32())), a.GetProperty("area").GetInt32())));
        Assert.All(annotations, a => Assert.Equal(0, a.GetProperty("iscrowd").GetInt32()));
        Assert.Equal(Enumerable.Range(1, annotations.Count), annotations.Select(a => a.GetProperty("id").GetInt32()));
        Assert.Equal(["1:a", "2:b", "3:c"], coco.RootElement.GetProperty("categories").EnumerateArray()
            .Select(c => $"{c.GetProperty("id").GetInt32()}:{c.GetProperty("name").GetString()}"));

        // The evaluation reads the same file back: every object, each a perfect detection of itself, scores 1.
        var truth = MtkdRl.Core.Formats.CocoFiles.ReadInstances(Path.Combine(dir, "instances_train.json"));
        Assert.Equal(annotations.Count, truth.Annotations.Count);
        var perfect = truth.Annotations.Select(a => new MtkdRl.Core.Formats.CocoDetection(a.ImageId, a.CategoryId, a.Bbox, 1)).ToList();
        Assert.Equal(1, MtkdRl.Reports.Metrics.CocoBoxEvaluation.Summarise(truth, perfect).AP, 12);

        var loaded = SceneDataset.Load(dir);
        Assert.Equal(data.FingerprintHex, loaded.Descriptor.Source.Fingerprint);
        Assert.Equal(["segmentation", "detection"], loaded.Descriptor.TaskKinds);
        Assert.False(loaded.Descriptor.MirrorInvariant); // "rings" is no known kind and has no dataset.json
        Assert.Equal(3, loaded.ClassCount);
        Assert.Equal(result.Train.Images, loaded.Train.Images);
        Assert.Equal(result.Test.Masks, loaded.Test.Masks);
    }

    [Fact]
    public void Mirror_invariance_is_copied_from_the_source()
    {
        using var temp = new TempFolder();
        var source = SceneSources.Rings3(temp.Sub("source"));
        var data = source.WithDescriptor(new MtkdRl.Data.Datasets.DatasetDescriptor { MirrorInvariant = true });
        string dir = Path.Combine(temp.Root, "scenes");
        SceneGenerator.Write(data, Small, dir);
        Assert.True(SceneDataset.Load(dir).Descriptor.MirrorInvariant);
        Assert.True(MtkdRl.Data.Datasets.DatasetDescriptor.TryRead(dir)!.MirrorInvariant);
    }

    [Fact]
    public void The_reader_refuses_wrong_files_in_one_line_naming_the_file()
    {
        using var temp = new TempFolder();
        string dir = Path.Combine(temp.Root, "scenes");
        SceneGenerator.Write(SceneSources.Rings3(temp.Sub("source")), Small, dir);

        string masks = Path.Combine(dir, "test/masks.npy");
        byte[] good = File.ReadAllBytes(masks);
        NpyFile.Write(masks, new byte[9 * 24 * 24], 9, 24, 24);
        var e = Assert.Throws<MtkdInputException>(() => SceneDataset.Load(dir));
        Assert.Contains("masks.npy: masks shape (9, 24, 24), dataset.json says (10, 24, 24)", e.Message);

        var bad = new byte[10 * 24 * 24];
        bad[30] = 7;
        NpyFile.Write(masks, bad, 10, 24, 24);
        e = Assert.Throws<MtkdInputException>(() => SceneDataset.Load(dir));
        Assert.Contains("masks.npy: value 7 at element 30 is neither a class 0..3 nor 255", e.Message);

        File.WriteAllBytes(masks, good);
        File.Delete(Path.Combine(dir, "dataset.json"));
        e = Assert.Throws<MtkdInputException>(() => SceneDataset.Load(dir));
        Assert.Contains("dataset.json: missing", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData(12, 1, 4, 0.6, 1.4, "--canvas 12 is smaller than the largest scaled object (1.4 x 10 = 14 pixels)")]
    [InlineData(64, 0, 4, 0.6, 1.4, "--objects 0-4: expected A-B with 1 <= A <= B <= 16")]
    [InlineData(64, 3, 2, 0.6, 1.4, "--objects 3-2")]
    [InlineData(64, 1, 4, 0, 1.4, "--scale 0-1.4: expected A-B with 0 < A <= B <= 8")]
    [InlineData(64, 1, 4, 1.5, 1.4, "--scale 1.5-1.4")]
    [InlineData(2, 1, 4, 0.6, 1.4, "--canvas must be in 4..1024 (got 2)")]
    public void Bad_settings_are_one_line_errors(int canvas, int minObjects, int maxObjects, double minScale, double maxScale, string expected)
    {
        var options = new SceneOptions { Canvas = canvas, MinObjects = minObjects, MaxObjects = maxObjects, MinScale = minScale, MaxScale = maxScale };
        var e = Assert.Throws<MtkdInputException>(() => SceneGenerator.Compose(SceneSources.Rings3(), options));
        Assert.Contains(expected, e.Message);
    }
}
