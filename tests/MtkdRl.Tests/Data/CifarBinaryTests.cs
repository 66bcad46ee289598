using MtkdRl.Core;
using MtkdRl.Data.Datasets;
using MtkdRl.Data.Formats;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Data;

public class CifarBinaryTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Records with the given label bytes and images whose bytes come from a seeded generator.</summary>
    private static (byte[] File, byte[] Pixels) Records(int seed, params byte[][] labelBytes)
    {
        byte[] pixels = DataBytes.Random(seed, labelBytes.Length * CifarBinary.ImageBytes);
        var file = new List<byte>();
        for (int r = 0; r < labelBytes.Length; r++)
        {
            file.AddRange(labelBytes[r]);
            file.AddRange(pixels.AsSpan(r * CifarBinary.ImageBytes, CifarBinary.ImageBytes).ToArray());
        }
        return ([.. file], pixels);
    }

    private string WriteCifar10(Func<int, byte[]>? batch = null)
    {
        string root = _dir.Sub("cifar-10-batches-bin");
        for (int i = 1; i <= 5; i++)
            File.WriteAllBytes(Path.Combine(root, $"data_batch_{i}.bin"), batch?.Invoke(i) ?? Records(i, [(byte)i], [(byte)(9 - i)]).File);
        File.WriteAllBytes(Path.Combine(root, "test_batch.bin"), Records(99, [7]).File);
        return root;
    }

    [Fact]
    public void Cifar10_batches_are_concatenated_in_order_with_labels_and_channels_first_pixels()
    {
        WriteCifar10();
        ImageDataset data = DatasetLocator.Load(_dir.Root);

        Assert.Equal("cifar-10", data.Name);
        Assert.Equal((3, 32, 32, 10), (data.Channels, data.Height, data.Width, data.ClassCount));
        Assert.Equal([1, 8, 2, 7, 3, 6, 4, 5, 5, 4], data.Train.Labels);
        var expected = Enumerable.Range(1, 5).SelectMany(i => Records(i, [(byte)i], [(byte)(9 - i)]).Pixels).ToArray();
        Assert.Equal(expected, data.Train.Pixels);
        Assert.Equal([7], data.Test.Labels);
        Assert.Equal(Records(99, [7]).Pixels, data.Test.Pixels);
        Assert.Equal("airplane", data.ClassNames[0]);
    }

    [Fact]
    public void Cifar10_class_names_come_from_batches_meta()
    {
        string root = WriteCifar10();
        File.WriteAllLines(Path.Combine(root, "batches.meta.txt"), Enumerable.Range(0, 10).Select(i => $"c{i}").Append(""));
        Assert.Equal("c3", DatasetLocator.Load(root).ClassNames[3]);
    }

    [Theory]
    [InlineData(CifarLabelKind.Fine, 100, new[] { 42, 99 })]
    [InlineData(CifarLabelKind.Coarse, 20, new[] { 3, 19 })]
    public void Cifar100_reads_fine_or_coarse_labels(CifarLabelKind kind, int classes, int[] expected)
    {
        string root = _dir.Sub("cifar-100-binary");
        var (train, pixels) = Records(TestSeeds.Next(), [3, 42], [19, 99]);
        File.WriteAllBytes(Path.Combine(root, "train.bin"), train);
        File.WriteAllBytes(Path.Combine(root, "test.bin"), Records(1, [0, 0]).File);

        ImageDataset data = CifarDataset.LoadCifar100(_dir.Root, kind);

        Assert.Equal(classes, data.ClassCount);
        Assert.Equal(expected, data.Train.Labels);
        Assert.Equal(pixels, data.Train.Pixels);
    }

    [Fact]
    public void A_file_that_is_not_whole_records_is_refused_before_reading()
    {
        string root = WriteCifar10(i => i == 3 ? Records(3, [1], [2]).File[..^1] : Records(i, [1]).File);
        var e = Assert.Throws<MtkdInputException>(() => DatasetLocator.Load(root));
        Assert.Equal($"{Path.Combine(root, "data_batch_3.bin")}: truncated or not CIFAR-10: 6145 bytes is 1 whole 3073-byte records and 3072 bytes over", e.Message);
    }

    [Fact]
    public void A_cifar100_file_is_not_read_as_cifar10()
    {
        string path = _dir.Write("x.bin", Records(1, [1, 2], [3, 4], [5, 6]).File);
        var e = Assert.Throws<MtkdInputException>(() => CifarBinary.CountRecords(path, CifarVariant.Cifar10));
        Assert.Contains("not CIFAR-10", e.Message);
    }

    [Theory]
    [InlineData(CifarVariant.Cifar10, new byte[] { 10 }, "label 10 at record 1 is outside 0..9")]
    [InlineData(CifarVariant.Cifar100, new byte[] { 20, 5 }, "coarse label 20 at record 1 is outside 0..19")]
    [InlineData(CifarVariant.Cifar100, new byte[] { 2, 100 }, "fine label 100 at record 1 is outside 0..99")]
    public void Labels_out_of_range_are_refused_with_their_record(CifarVariant variant, byte[] bad, string expected)
    {
        byte[] good = variant == CifarVariant.Cifar10 ? [0] : [0, 0];
        string path = _dir.Write("x.bin", Records(1, good, bad).File);
        var e = Assert.Throws<MtkdInputException>(() => CifarBinary.Read([path], variant));
        Assert.Equal($"{path}: {expected}", e.Message);
    }

    [Fact]
    public void Empty_gzipped_and_missing_files_are_refused()
    {
        string empty = _dir.Write("empty.bin", []);
        Assert.Contains("empty file", Assert.Throws<MtkdInputException>(() => CifarBinary.CountRecords(empty, CifarVariant.Cifar10)).Message);
        string gz = _dir.Write("gz.bin", DataBytes.Gzip(Records(1, [1]).File));
        Assert.Contains("is gzip-compressed", Assert.Throws<MtkdInputException>(() => CifarBinary.CountRecords(gz, CifarVariant.Cifar10)).Message);

        string root = WriteCifar10();
        File.Delete(Path.Combine(root, "data_batch_4.bin"));
        Assert.Equal($"{root}: CIFAR file data_batch_4.bin is missing", Assert.Throws<MtkdInputException>(() => DatasetLocator.Load(root)).Message);
    }
}
