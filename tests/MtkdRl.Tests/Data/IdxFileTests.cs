using MtkdRl.Core;
using MtkdRl.Data.Formats;
using MtkdRl.Tests.Support;
using static MtkdRl.Tests.Data.DataBytes;

namespace MtkdRl.Tests.Data;

public class IdxFileTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Images_and_labels_round_trip_bit_exactly(bool gzip)
    {
        int seed = TestSeeds.Next();
        var rng = new Random(seed);
        int n = rng.Next(1, 40), h = rng.Next(1, 30), w = rng.Next(1, 30);
        byte[] pixels = DataBytes.Random(seed, n * h * w);
        byte[] labels = Enumerable.Range(0, n).Select(_ => (byte)rng.Next(10)).ToArray();
        string imagesPath = _dir.File("images.idx"), labelsPath = _dir.File("labels.idx");

        IdxFile.Write(imagesPath, pixels, [n, h, w], gzip);
        IdxFile.Write(labelsPath, labels, [n], gzip);

        Assert.Equal(gzip, System.IO.File.ReadAllBytes(imagesPath)[0] == 0x1f);
        IdxArray images = IdxFile.ReadImages(imagesPath);
        Assert.Equal([n, h, w], images.Dims);
        Assert.Equal(pixels, images.Data);
        Assert.Equal(labels.Select(b => (int)b).ToArray(), IdxFile.ReadLabels(labelsPath, 10));
        Assert.Equal([n, h, w], IdxFile.ReadHeader(imagesPath).Dims);
    }

    [Fact]
    public void Wrong_magic_is_refused()
    {
        string path = _dir.Write("x.idx", Concat([1, 2, 8, 1], [0, 0, 0, 1], [5]));
        var e = Assert.Throws<MtkdInputException>(() => IdxFile.ReadLabels(path, 10));
        Assert.Equal($"{path}: not an IDX file (magic 01020801, expected 0000 then a type code and a rank)", e.Message);
    }

    [Fact]
    public void Element_types_other_than_unsigned_byte_are_refused_by_name()
    {
        string path = _dir.Write("x.idx", Concat(IdxHeader(0x0D, 1), new byte[4]));
        var e = Assert.Throws<MtkdInputException>(() => IdxFile.ReadLabels(path, 10));
        Assert.Contains("element type 0x0D (float32) is not supported", e.Message);
    }

    [Fact]
    public void A_label_file_is_not_accepted_as_images()
    {
        string path = _dir.Write("x.idx", Concat(IdxHeader(8, 3), [1, 2, 3]));
        var e = Assert.Throws<MtkdInputException>(() => IdxFile.ReadImages(path));
        Assert.Contains("rank 1 (3), expected rank 3 for images [N,H,W]", e.Message);
    }

    [Fact]
    public void Truncated_payload_is_refused_with_both_sizes()
    {
        string path = _dir.Write("x.idx", Concat(IdxHeader(8, 10, 28, 28), new byte[3712]));
        var e = Assert.Throws<MtkdInputException>(() => IdxFile.ReadImages(path));
        Assert.Equal($"{path}: truncated: header says 10 images of 28x28 (7840 bytes), file holds 3712", e.Message);
    }

    [Fact]
    public void Truncated_gzip_payload_is_refused_with_both_sizes()
    {
        string path = _dir.Write("x.idx.gz", Gzip(Concat(IdxHeader(8, 10, 28, 28), new byte[3712])));
        var e = Assert.Throws<MtkdInputException>(() => IdxFile.ReadImages(path));
        Assert.Equal($"{path}: truncated: header says 10 images of 28x28 (7840 bytes), file holds 3712", e.Message);
    }

    [Fact]
    public void A_gzip_stream_cut_short_is_refused()
    {
        byte[] whole = Gzip(Concat(IdxHeader(8, 50, 28, 28), DataBytes.Random(1, 50 * 28 * 28)));
        string path = _dir.Write("x.idx.gz", whole[..(whole.Length / 2)]);
        var e = Assert.Throws<MtkdInputException>(() => IdxFile.ReadImages(path));
        Assert.StartsWith($"{path}: ", e.Message);
        Assert.Matches("truncated|corrupt", e.Message);
    }

    [Fact]
    public void Corrupt_gzip_data_is_refused()
    {
        byte[] bytes = Gzip(Concat(IdxHeader(8, 50, 28, 28), DataBytes.Random(2, 50 * 28 * 28)));
        for (int i = 10; i < bytes.Length - 8; i += 7) bytes[i] ^= 0x5A;
        string path = _dir.Write("x.idx.gz", bytes);
        var e = Assert.Throws<MtkdInputException>(() => IdxFile.ReadImages(path));
        Assert.StartsWith($"{path}: ", e.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Trailing_bytes_are_refused(bool gzip)
    {
        byte[] bytes = Concat(IdxHeader(8, 4), [1, 2, 3, 4, 9, 9]);
        string path = _dir.Write("x.idx", gzip ? Gzip(bytes) : bytes);
        var e = Assert.Throws<MtkdInputException>(() => IdxFile.ReadLabels(path, 10));
        Assert.Contains("2 unexpected bytes after the 4 labels", e.Message);
    }

    [Fact]
    public void Header_promising_more_than_an_array_fails_before_allocating()
    {
        string path = _dir.Write("x.idx", Concat(IdxHeader(8, 100000, 100000, 100000), new byte[16]));
        var e = Assert.Throws<MtkdInputException>(() => IdxFile.ReadImages(path));
        Assert.Contains("header says 100000 images of 100000x100000 (1000000000000000 bytes), more than one array can hold", e.Message);
        Assert.True(DataBytes.AllocatedWhile(() => IdxFile.ReadImages(path)) < 1 << 20, "allocated the promised payload");
    }

    [Theory]
    [InlineData(false, "truncated: header says 1000 images of 1000x1000 (1000000000 bytes), file holds 16")]
    [InlineData(true, "more than a")]
    public void Header_promising_a_gigabyte_from_a_tiny_file_fails_before_allocating(bool gzip, string expected)
    {
        byte[] bytes = Concat(IdxHeader(8, 1000, 1000, 1000), new byte[16]);
        string path = _dir.Write("x.idx", gzip ? Gzip(bytes) : bytes);
        var e = Assert.Throws<MtkdInputException>(() => IdxFile.ReadImages(path));
        Assert.Contains(expected, e.Message);
        Assert.True(DataBytes.AllocatedWhile(() => IdxFile.ReadImages(path)) < 1 << 20, "allocated the promised payload");
    }

    [Fact]
    public void Dimensions_that_overflow_a_64_bit_size_are_refused()
    {
        string path = _dir.Write("x.idx", Concat(IdxHeader(8, int.MaxValue, int.MaxValue, int.MaxValue), new byte[4]));
        var e = Assert.Throws<MtkdInputException>(() => IdxFile.ReadImages(path));
        Assert.Contains("overflow a 64-bit size", e.Message);
    }

    [Fact]
    public void A_dimension_beyond_int32_is_refused()
    {
        string path = _dir.Write("x.idx", Concat(IdxHeader(8, 3_000_000_000), new byte[4]));
        var e = Assert.Throws<MtkdInputException>(() => IdxFile.ReadLabels(path, 10));
        Assert.Contains("IDX dimension 0 is 3000000000, too large", e.Message);
    }

    [Theory]
    [InlineData(new byte[0], "truncated: 0 bytes, an IDX header needs at least 4")]
    [InlineData(new byte[] { 0, 0, 8, 3, 0, 0, 0, 5, 0 }, "truncated: IDX header of rank 3 needs 12 dimension bytes, file holds 5")]
    [InlineData(new byte[] { 0, 0, 8, 0 }, "IDX header has rank 0")]
    public void Broken_headers_are_refused(byte[] bytes, string expected)
    {
        string path = _dir.Write("x.idx", bytes);
        var e = Assert.Throws<MtkdInputException>(() => IdxFile.ReadImages(path));
        Assert.Equal($"{path}: {expected}", e.Message);
    }

    [Fact]
    public void Labels_at_or_above_the_class_count_are_refused_with_their_row()
    {
        string path = _dir.File("labels.idx");
        IdxFile.Write(path, [0, 9, 3, 10, 2], [5]);
        var e = Assert.Throws<MtkdInputException>(() => IdxFile.ReadLabels(path, 10));
        Assert.Equal($"{path}: label 10 at row 3 is outside 0..9", e.Message);
    }

    [Fact]
    public void Missing_file_and_directory_give_one_line_errors()
    {
        var missing = Assert.Throws<MtkdInputException>(() => IdxFile.ReadImages(_dir.File("nope.gz")));
        Assert.EndsWith("nope.gz: file not found", missing.Message);
        var folder = Assert.Throws<MtkdInputException>(() => IdxFile.ReadImages(_dir.Root));
        Assert.EndsWith("is a directory, expected a file", folder.Message);
    }

    [Fact]
    public void Writer_refuses_dimensions_that_do_not_match_the_data()
    {
        Assert.Throws<ArgumentException>(() => IdxFile.Write(_dir.File("x"), new byte[5], [2, 3]));
    }
}
