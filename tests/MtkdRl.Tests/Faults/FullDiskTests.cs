using System.Text.RegularExpressions;
using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Tests.Data;

namespace MtkdRl.Tests.Faults;

/// <summary>
/// A file that does not fit on its disk is one line naming it, the bytes it needs and the bytes free, and leaves
/// nothing behind: the space is reserved before the first byte is written (and before a cache is mapped).
/// </summary>
public class FullDiskTests
{
    private static readonly Regex Sizes = new(@"not enough disk space: needs (more than )?(?<needed>[0-9]+) bytes, (?<free>[0-9]+) bytes free$");

    private static (long Needed, long Free) AssertNotEnough(MtkdException e, string path)
    {
        Assert.StartsWith(path + ": ", e.Message);
        var m = Sizes.Match(e.Message);
        Assert.True(m.Success, e.Message);
        return (long.Parse(m.Groups["needed"].Value), long.Parse(m.Groups["free"].Value));
    }

    /// <summary>A cache header of <paramref name="rows"/> records of <paramref name="recordBytes"/> bytes (float32).</summary>
    private static TeacherCacheHeader Header(int rows, long recordBytes)
    {
        const int classes = 10;
        int width = checked((int)(recordBytes / 4 - classes));
        return new(TeacherCacheHeader.CurrentFormat, CacheDType.F32, "train", rows, classes, "d", "fp-d", "fp-p", [new("t", "mlp:8", width, "sha:t")], "");
    }

    [Fact]
    public void A_cache_larger_than_the_free_space_is_refused_before_it_is_mapped()
    {
        using var folder = new TempFolder();
        string path = Path.Combine(folder.Root, "cache-train.mtkc");
        long free = new DriveInfo(folder.Root).AvailableFreeSpace;
        // 64 MiB more than the disk has: a sparse mapping of it would be created without complaint and fault later.
        long recordBytes = 4096;
        while ((free + (64L << 20)) / recordBytes + 1 > 1_000_000_000) recordBytes *= 2;
        int rows = checked((int)((free + (64L << 20)) / recordBytes + 1));

        var e = Assert.Throws<MtkdException>(() => new TeacherCacheFile.Writer(path, Header(rows, recordBytes)).Dispose());

        var (needed, reportedFree) = AssertNotEnough(e, path);
        Assert.True(needed >= rows * recordBytes, e.Message);
        Assert.True(reportedFree < needed, e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(folder.Root));
    }

    [Fact]
    public void An_atomic_write_of_a_petabyte_is_refused_and_the_previous_file_stays()
    {
        using var folder = new TempFolder();
        string path = folder.Write("state.json", "{}"u8.ToArray());
        var e = Assert.Throws<MtkdException>(() => AtomicFile.Write(path, 1L << 50, s => s.WriteByte(1)));
        var (needed, _) = AssertNotEnough(e, path);
        Assert.Equal(1L << 50, needed);
        Assert.Equal(["state.json"], Directory.GetFileSystemEntries(folder.Root).Select(Path.GetFileName));
        Assert.Equal("{}", File.ReadAllText(path));
    }

    [SkippableFact]
    public void A_stream_that_fills_a_real_disk_is_one_line_and_leaves_no_temporary_file()
    {
        using var disk = TinyDisk.Mount(1 << 20);
        string path = Path.Combine(disk.Root, "plot.png");
        // Size unknown in advance (as a PNG or an NPZ): the full disk shows when a write fails.
        var e = Assert.Throws<MtkdException>(() => AtomicFile.Write(path, s => s.Write(new byte[2 << 20])));
        Assert.Contains("needs more than ", e.Message);
        var (needed, free) = AssertNotEnough(e, path);
        Assert.True(needed > 0 && needed <= 2 << 20 && free <= 1 << 20, e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(disk.Root));
    }

    [SkippableFact]
    public void A_second_cache_that_does_not_fit_beside_the_first_is_refused_and_the_first_completes()
    {
        using var disk = TinyDisk.Mount(1 << 20);
        string first = Path.Combine(disk.Root, "cache-train.mtkc"), second = Path.Combine(disk.Root, "cache-test.mtkc");
        var header = Header(150, 4096); // 600 KiB of records on a 1 MiB disk: one fits, two do not
        using (var writer = new TeacherCacheFile.Writer(first, header))
        {
            var e = Assert.Throws<MtkdException>(() => new TeacherCacheFile.Writer(second, header).Dispose());
            AssertNotEnough(e, second);
            Assert.Single(Directory.GetFileSystemEntries(disk.Root));
            var logits = new float[150 * 10];
            var embeddings = new float[150 * (4096 / 4 - 10)];
            Array.Fill(logits, 1f);
            Array.Fill(embeddings, 2f);
            writer.Write(0, 0, logits, embeddings);
            writer.Commit();
        }
        Assert.Equal(["cache-train.mtkc"], Directory.GetFileSystemEntries(disk.Root).Select(Path.GetFileName));
        using var cache = TeacherCacheFile.Open(first);
        Assert.Equal(150, cache.Header.Rows);
    }

    /// <summary>
    /// A compressed dense cache is written twice over: the plain records (space reserved up front), then the
    /// compressed file beside them. Records that do not compress (random float32) need the room twice; on a disk with
    /// room for one copy the commit is one line naming the cache, and neither file is left behind.
    /// </summary>
    [SkippableFact]
    public void A_compressed_cache_that_does_not_fit_beside_its_plain_records_is_one_line_and_leaves_nothing()
    {
        using var disk = TinyDisk.Mount(1 << 20);
        string path = Path.Combine(disk.Root, "cache-train-16x16.mtkc");
        var grid = new DenseCacheGrid(16, 16, 1, 11);
        const int rows = 55, width = 4; // 55 records of (256 x 11 + 4) float32: 620 KB plain
        var header = new TeacherCacheHeader(TeacherCacheHeader.CompressedFormat, CacheDType.F32, "train", rows, grid.RowsPerImage * grid.Columns,
            "scenes", "fp-d", "fp-p", [new("t", "unet:4", width, "sha:t")], "", "segmentation", grid, DenseRecordCodec.Name);
        var random = new Random(5);
        var logits = new float[rows * grid.RowsPerImage * grid.Columns];
        var embeddings = new float[rows * width];
        for (int i = 0; i < logits.Length; i++) logits[i] = (float)(random.NextDouble() * 2e6 - 1e6);
        for (int i = 0; i < embeddings.Length; i++) embeddings[i] = (float)random.NextDouble();
        using (var writer = new TeacherCacheFile.Writer(path, header))
        {
            writer.Write(0, 0, logits, embeddings);
            var e = Assert.Throws<MtkdException>(() => writer.Commit());
            Assert.StartsWith(path + ": the disk is full while compressing the cache", e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
        Assert.Empty(Directory.GetFileSystemEntries(disk.Root));
    }
}
