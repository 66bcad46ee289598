using System.Buffers.Binary;
using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Formats;

/// <summary>
/// Dense caches with compressed records (format 2): every bit pattern comes back as written, smooth logit maps
/// take well under their raw size, a compressed cache gathers exactly what the same cache stored plainly gathers,
/// and a damaged one is refused in one line naming the file.
/// </summary>
public sealed class CompressedDenseCacheTests : IDisposable
{
    private static readonly DenseCacheGrid Grid = new(7, 5, 1, 4);
    private static readonly CachedTeacher[] Teachers = [new("a", "unet:4", 3, "sha:a"), new("b", "fcn:4", 2, "sha:b")];
    private const int Rows = 9;

    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData(2, 7, 5)]
    [InlineData(4, 7, 5)]
    [InlineData(2, 1, 6)]
    [InlineData(4, 6, 1)]
    public void Every_bit_pattern_comes_back_as_written(int elementSize, int width, int height)
    {
        var rng = new Random(TestSeeds.Next());
        var grid = Grid with { Width = width, Height = height };
        var record = new byte[(Teachers.Length * grid.RowsPerImage * grid.Columns + Teachers.Sum(t => t.EmbeddingWidth)) * elementSize];
        rng.NextBytes(record);
        // Special values at fixed places: NaN with a payload, both infinities, both zeros, the smallest subnormal.
        ushort[] half = [0x7e01, 0x7c00, 0xfc00, 0x0000, 0x8000, 0x0001, 0x8001, 0xffff];
        uint[] single = [0x7fc00001, 0x7f800000, 0xff800000, 0, 0x80000000, 1, 0x80000001, 0xffffffff];
        for (int i = 0; i < half.Length; i++)
        {
            if (elementSize == 2) BinaryPrimitives.WriteUInt16LittleEndian(record.AsSpan(2 * i * 3), half[i]);
            else BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(4 * i * 3), single[i]);
        }
        var compressed = DenseRecordCodec.Encode(record, grid, Teachers.Length, elementSize);
        var back = new byte[record.Length];
        DenseRecordCodec.Decode(compressed, back, grid, Teachers.Length, elementSize);
        Assert.Equal(record, back);

        var tooShort = new byte[record.Length - elementSize];
        Assert.Throws<InvalidDataException>(() => DenseRecordCodec.Decode(compressed, tooShort, grid, Teachers.Length, elementSize));
        var tooLong = new byte[record.Length + elementSize];
        Assert.Throws<InvalidDataException>(() => DenseRecordCodec.Decode(compressed, tooLong, grid, Teachers.Length, elementSize));
    }

    [Fact]
    public void Smooth_logit_maps_take_well_under_their_raw_size_and_noise_does_not()
    {
        var grid = new DenseCacheGrid(64, 64, 1, 11);
        int k = 3, values = k * grid.RowsPerImage * grid.Columns;
        var smooth = new Half[values];
        var rng = new Random(TestSeeds.Next());
        var noise = new Half[values];
        for (int t = 0; t < k; t++)
            for (int p = 0; p < grid.RowsPerImage; p++)
                for (int c = 0; c < grid.Columns; c++)
                {
                    int x = p % grid.Width, y = p / grid.Width, i = (t * grid.RowsPerImage + p) * grid.Columns + c;
                    smooth[i] = (Half)(4 * Math.Sin(x / 9.0 + c) * Math.Cos(y / 7.0 - t) - c);
                    noise[i] = (Half)(8 * rng.NextDouble() - 4);
                }
        int Size(Half[] v) => DenseRecordCodec.Encode(System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan()), grid, k, 2).Length;
        int raw = values * 2;
        Assert.True(Size(smooth) < raw / 2, $"smooth maps: {Size(smooth)} of {raw} bytes");
        Assert.True(Size(noise) > raw / 2, $"noise: {Size(noise)} of {raw} bytes");
    }

    private static TeacherCacheHeader Header(CacheDType dtype, bool compressed) =>
        new(compressed ? TeacherCacheHeader.CompressedFormat : TeacherCacheHeader.CurrentFormat, dtype, "train", Rows,
            Grid.RowsPerImage * Grid.Columns, "scenes", "fp-data", "fp-pool", Teachers, "", "segmentation", Grid,
            compressed ? DenseRecordCodec.Name : null);

    private string Build(CacheDType dtype, bool compressed, int seed)
    {
        string path = _temp.File($"{Guid.NewGuid():N}/cache-train-7x5.mtkc");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var rng = new Random(seed);
        using var writer = new TeacherCacheFile.Writer(path, Header(dtype, compressed));
        int perImage = Grid.RowsPerImage * Grid.Columns;
        for (int t = 0; t < Teachers.Length; t++)
        {
            var logits = new float[Rows * perImage];
            for (int i = 0; i < logits.Length; i++) logits[i] = (float)(6 * Math.Sin(i / 13.0 + t) + rng.NextDouble());
            var embeddings = new float[Rows * Teachers[t].EmbeddingWidth];
            for (int i = 0; i < embeddings.Length; i++) embeddings[i] = (float)(rng.NextDouble() - 0.5);
            writer.Write(t, 0, logits, embeddings);
        }
        writer.Commit();
        return path;
    }

    [Theory]
    [InlineData(CacheDType.F16)]
    [InlineData(CacheDType.F32)]
    public void A_compressed_cache_gathers_what_the_plain_one_gathers(CacheDType dtype)
    {
        int seed = TestSeeds.Next();
        using var plain = TeacherCacheFile.Open(Build(dtype, compressed: false, seed));
        string path = Build(dtype, compressed: true, seed);
        using var packed = TeacherCacheFile.Open(path);
        Assert.True(packed.Header.Compressed);
        Assert.Equal(TeacherCacheHeader.CompressedFormat, packed.Header.Format);
        Assert.Single(Directory.GetFileSystemEntries(Path.GetDirectoryName(path)!)); // no temporary left behind
        foreach (int[] rows in new[] { new[] { 3 }, [8, 0, 5, 5, 1], [.. Enumerable.Range(0, Rows)] })
        {
            int b = rows.Length, c = plain.Header.Classes, f = plain.Header.F;
            var (zp, fp) = (new float[Teachers.Length * b * c], new float[b * f]);
            var (zc, fc) = (new float[zp.Length], new float[fp.Length]);
            plain.Gather(rows, zp, fp);
            packed.Gather(rows, zc, fc);
            Assert.Equal(zp, zc);
            Assert.Equal(fp, fc);
            Array.Clear(fc);
            packed.GatherEmbeddings(rows, fc);
            Assert.Equal(fp, fc);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => packed.Gather([Rows], new float[Teachers.Length * plain.Header.Classes], new float[plain.Header.F]));
    }

    /// <summary>The data section's start (after the padded header) of a cache file.</summary>
    private static int DataOffset(byte[] file) => (int)((16 + BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(8)) + 63) / 64 * 64);

    [Fact]
    public void A_damaged_compressed_cache_is_refused_in_one_line()
    {
        string path = Build(CacheDType.F16, compressed: true, TestSeeds.Next());
        var good = File.ReadAllBytes(path);
        int data = DataOffset(good), table = 8 * (Rows + 1);

        var bytes = (byte[])good.Clone();
        bytes[^7] ^= 0x10;
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<MtkdInputException>(() => TeacherCacheFile.Open(path));
        Assert.StartsWith(path, e.Message);
        Assert.Contains("checksum mismatch", e.Message);

        // The same damage with the checksum skipped: the record that no longer inflates is named.
        bytes = (byte[])good.Clone();
        long lastStart = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(data + 8 * (Rows - 1)));
        for (int i = data + table + (int)lastStart + 2; i < bytes.Length; i++) bytes[i] = 0xff;
        File.WriteAllBytes(path, bytes);
        using (var damaged = TeacherCacheFile.Open(path, verifyChecksum: false))
        {
            var z = new float[Teachers.Length * damaged.Header.Classes];
            var f = new float[damaged.Header.F];
            damaged.Gather([0], z, f);
            e = Assert.Throws<MtkdInputException>(() => damaged.Gather([Rows - 1], z, f));
            Assert.StartsWith(path, e.Message);
            Assert.Contains($"record {Rows - 1} does not decode", e.Message);
        }

        bytes = (byte[])good.Clone();
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(data + 8 * 3), 1L << 40);
        File.WriteAllBytes(path, bytes);
        e = Assert.Throws<MtkdInputException>(() => TeacherCacheFile.Open(path, verifyChecksum: false));
        Assert.Contains("offset table entry 3", e.Message);

        File.WriteAllBytes(path, good[..^5]);
        e = Assert.Throws<MtkdInputException>(() => TeacherCacheFile.Open(path, verifyChecksum: false));
        Assert.Contains("truncated", e.Message);

        File.WriteAllBytes(path, good[..(data + 16)]);
        e = Assert.Throws<MtkdInputException>(() => TeacherCacheFile.Open(path, verifyChecksum: false));
        Assert.Contains("offset table", e.Message);
    }

    [Fact]
    public void A_compressed_build_that_is_not_committed_leaves_nothing_behind()
    {
        string path = _temp.File($"{Guid.NewGuid():N}/cache-train-7x5.mtkc");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using (var writer = new TeacherCacheFile.Writer(path, Header(CacheDType.F16, compressed: true)))
            writer.Write(0, 0, new float[Grid.RowsPerImage * Grid.Columns], new float[Teachers[0].EmbeddingWidth]);
        Assert.Empty(Directory.GetFileSystemEntries(Path.GetDirectoryName(path)!));
    }
}
