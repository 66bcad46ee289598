using MtkdRl.Core;
using MtkdRl.Data.Datasets;
using MtkdRl.Data.Formats;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Data;

public class DatasetLocatorTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A tiny MNIST-style folder: <paramref name="trainCount"/> and 3 test images of 4x5, labels i % 10.</summary>
    private string WriteIdx(string folder, int trainCount = 12, bool gzip = true, string separator = "-", int? trainLabelCount = null)
    {
        string dir = _dir.Sub(folder);
        string gz = gzip ? ".gz" : "";
        foreach (var (prefix, n) in new[] { ("train", trainCount), ("t10k", 3) })
        {
            IdxFile.Write(Path.Combine(dir, $"{prefix}-images{separator}idx3-ubyte{gz}"), DataBytes.Random(n, n * 20), [n, 4, 5], gzip);
            int labels = prefix == "train" ? trainLabelCount ?? n : n;
            IdxFile.Write(Path.Combine(dir, $"{prefix}-labels{separator}idx1-ubyte{gz}"), Enumerable.Range(0, labels).Select(i => (byte)(i % 10)).ToArray(), [labels], gzip);
        }
        return dir;
    }

    [Theory]
    [InlineData(true, "-")]
    [InlineData(false, "-")]
    [InlineData(true, ".")]
    public void An_idx_folder_loads_as_train_and_test_splits(bool gzip, string separator)
    {
        string dir = WriteIdx("mnist", 12, gzip, separator);
        ImageDataset data = DatasetLocator.Load(dir);

        Assert.Equal("mnist", data.Name);
        Assert.Equal((12, 3), (data.Train.Count, data.Test.Count));
        Assert.Equal((1, 4, 5, 10), (data.Channels, data.Height, data.Width, data.ClassCount));
        Assert.Equal(DataBytes.Random(12, 240), data.Train.Pixels);
        Assert.Equal(Enumerable.Range(0, 12).Select(i => i % 10), data.Train.Labels);
        Assert.Equal("mnist/train", data.Train.Name);
        Assert.Equal("7", data.ClassNames[7]);
    }

    [Fact]
    public void A_folder_named_fashion_gets_fashion_class_names_and_classes_txt_overrides()
    {
        string fashion = WriteIdx("fashion-stuff");
        Assert.Equal("fashion-mnist", DatasetLocator.Load(fashion).Name);
        Assert.Equal("Ankle boot", DatasetLocator.Load(fashion).ClassNames[9]);

        File.WriteAllLines(Path.Combine(fashion, "classes.txt"), Enumerable.Range(0, 12).Select(i => $"k{i}"));
        Assert.Equal(12, DatasetLocator.Load(fashion).ClassCount);

        ImageDataset plain = DatasetLocator.Load(WriteIdx("plain"));
        Assert.Equal(("plain", "3"), (plain.Name, plain.ClassNames[3]));
    }

    [Fact]
    public void Image_and_label_counts_that_differ_are_refused_naming_both()
    {
        string dir = WriteIdx("mnist", trainCount: 12, trainLabelCount: 11);
        var e = Assert.Throws<MtkdInputException>(() => DatasetLocator.Load(dir));
        Assert.Equal($"{Path.Combine(dir, "train-labels-idx1-ubyte.gz")}: holds 11 labels, but train-images-idx3-ubyte.gz holds 12 images", e.Message);
    }

    [Fact]
    public void Labels_beyond_the_class_list_are_refused_with_a_hint()
    {
        string dir = WriteIdx("mnist");
        File.WriteAllLines(Path.Combine(dir, "classes.txt"), ["a", "b", "c"]);
        var e = Assert.Throws<MtkdInputException>(() => DatasetLocator.Load(dir));
        Assert.EndsWith("train-labels-idx1-ubyte.gz: label 3 at row 3 is outside 0..2 (as classes.txt lists 3 classes)", e.Message);
    }

    [Fact]
    public void An_empty_split_is_refused()
    {
        string dir = WriteIdx("mnist", trainCount: 0);
        Assert.Equal("mnist/train: empty dataset (no images)", Assert.Throws<MtkdInputException>(() => DatasetLocator.Load(dir)).Message);
    }

    [Fact]
    public void A_missing_split_file_is_named()
    {
        string dir = WriteIdx("mnist");
        File.Delete(Path.Combine(dir, "t10k-labels-idx1-ubyte.gz"));
        Assert.Equal($"{dir}: has IDX files but no t10k-labels-idx1-ubyte[.gz]", Assert.Throws<MtkdInputException>(() => DatasetLocator.Load(dir)).Message);
    }

    [Fact]
    public void A_folder_with_nothing_recognisable_is_refused()
    {
        string dir = _dir.Sub("stuff");
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "hello");
        var e = Assert.Throws<MtkdInputException>(() => DatasetLocator.Load(dir));
        Assert.StartsWith($"{dir}: no dataset recognised (expected IDX files", e.Message);
        Assert.Equal($"--data {dir}/nope: no such directory", Assert.Throws<MtkdInputException>(() => DatasetLocator.Resolve(dir + "/nope")).Message);
    }

    [Fact]
    public void Resolve_prefers_data_then_the_system_set_then_the_slice()
    {
        string explicitDir = WriteIdx("mine");
        string system = WriteIdx("system");
        string slice = WriteIdx("slice");
        string empty = _dir.Sub("empty");

        Assert.Equal(new DatasetChoice(explicitDir, "--data"), DatasetLocator.Resolve(explicitDir, system, slice));
        Assert.Equal(system, DatasetLocator.Resolve(null, system, slice).Directory);
        Assert.Equal(slice, DatasetLocator.Resolve(null, empty, slice).Directory);
        Assert.Equal(slice, DatasetLocator.Resolve("", null, slice).Directory);
        var e = Assert.Throws<MtkdInputException>(() => DatasetLocator.Resolve(null, empty, empty));
        Assert.StartsWith("no dataset: pass --data DIR", e.Message);
    }

    private string WriteNpySplit(string root, string split, NpyArray images, NpyArray labels, bool npz)
    {
        if (npz)
            NpzFile.Write(Path.Combine(root, split + ".npz"), new Dictionary<string, NpyArray> { ["images"] = images, ["labels"] = labels });
        else
        {
            Directory.CreateDirectory(Path.Combine(root, split));
            NpyFile.Write(Path.Combine(root, split, "images.npy"), images);
            NpyFile.Write(Path.Combine(root, split, "labels.npy"), labels);
        }
        return root;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void An_npy_folder_loads_channels_first_images(bool npz)
    {
        int seed = TestSeeds.Next();
        string root = _dir.Sub("exported");
        byte[] pixels = DataBytes.Random(seed, 5 * 3 * 2 * 4);
        WriteNpySplit(root, "train", NpyArray.Create(pixels, 5, 3, 2, 4), NpyArray.Create(new long[] { 0, 1, 2, 3, 4 }, 5), npz);
        WriteNpySplit(root, "test", NpyArray.Create(new byte[24], 1, 3, 2, 4), NpyArray.Create(new[] { 1 }, 1), npz);

        ImageDataset data = DatasetLocator.Load(root);

        Assert.Equal((3, 2, 4, 5), (data.Channels, data.Height, data.Width, data.ClassCount));
        Assert.Equal(pixels, data.Train.Pixels);
        Assert.Equal([0, 1, 2, 3, 4], data.Train.Labels);
    }

    [Theory]
    [InlineData(new[] { 2, 28, 28, 3 }, NpyDType.UInt8, "looks channels-last")]
    [InlineData(new[] { 2, 28 }, NpyDType.UInt8, "must be [N,H,W] or [N,Ch,H,W]")]
    [InlineData(new[] { 2, 4, 4 }, NpyDType.Float32, "images must be uint8, found float32")]
    public void Npy_images_of_the_wrong_layout_or_dtype_are_refused(int[] shape, NpyDType dtype, string expected)
    {
        string root = _dir.Sub("exported");
        var images = new NpyArray(Array.CreateInstance(dtype.ElementType(), shape.Aggregate(1, (a, b) => a * b)), shape);
        WriteNpySplit(root, "train", images, NpyArray.Create(new[] { 0, 1 }, 2), npz: false);
        var e = Assert.Throws<MtkdInputException>(() => DatasetLocator.Load(root));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Npy_label_count_mismatch_and_missing_test_split_are_refused()
    {
        string root = _dir.Sub("exported");
        WriteNpySplit(root, "train", NpyArray.Create(new byte[32], 2, 4, 4), NpyArray.Create(new[] { 0, 1, 1 }, 3), npz: false);
        Assert.Contains("holds 3 labels, but", Assert.Throws<MtkdInputException>(() => DatasetLocator.Load(root)).Message);

        WriteNpySplit(root, "train", NpyArray.Create(new byte[32], 2, 4, 4), NpyArray.Create(new[] { 0, 1 }, 2), npz: false);
        Assert.Equal($"{root}: no test split (expected test/images.npy + test/labels.npy or test.npz)",
            Assert.Throws<MtkdInputException>(() => DatasetLocator.Load(root)).Message);
    }

    [Fact]
    public void Fingerprint_depends_on_pixels_labels_and_shape()
    {
        byte[] pixels = DataBytes.Random(5, 2 * 4 * 4);
        var names = ClassNames.Digits;
        var a = new LabeledImages("a", 1, 4, 4, pixels, [1, 2], names);
        Assert.Equal(a.FingerprintHex, new LabeledImages("b", 1, 4, 4, (byte[])pixels.Clone(), [1, 2], names).FingerprintHex);
        Assert.NotEqual(a.FingerprintHex, new LabeledImages("a", 1, 4, 4, pixels, [1, 3], names).FingerprintHex);
        Assert.NotEqual(a.FingerprintHex, new LabeledImages("a", 1, 2, 8, pixels, [1, 2], names).FingerprintHex);
        byte[] changed = (byte[])pixels.Clone();
        changed[17] ^= 1;
        Assert.NotEqual(a.FingerprintHex, new LabeledImages("a", 1, 4, 4, changed, [1, 2], names).FingerprintHex);
        Assert.Equal(a.FingerprintHex[..12], a.ShortFingerprint);
        Assert.Equal(64, a.FingerprintHex.Length);
    }

    [Fact]
    public void Subset_keeps_rows_in_the_order_given()
    {
        byte[] pixels = [.. Enumerable.Range(0, 12).Select(i => (byte)i)];
        var all = new LabeledImages("a", 1, 2, 2, pixels, [0, 1, 2], ClassNames.Digits);
        var sub = all.Subset([2, 0], "a-part");
        Assert.Equal([8, 9, 10, 11, 0, 1, 2, 3], sub.Pixels);
        Assert.Equal([2, 0], sub.Labels);
        Assert.Equal([1, 1, 1, 0, 0, 0, 0, 0, 0, 0], all.ClassCounts());
    }
}
