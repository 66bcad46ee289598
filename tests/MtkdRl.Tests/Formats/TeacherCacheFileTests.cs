using MtkdRl.Tests.Data;
using MtkdRl.Core;
using MtkdRl.Core.Formats;

namespace MtkdRl.Tests.Formats;

public class TeacherCacheFileTests : IDisposable
{
    private const int Rows = 11, Classes = 5;
    private static readonly CachedTeacher[] Teachers = [new("a", "mlp:8", 3, "sha:a"), new("b", "linear", 1, "sha:b"), new("c", "cnn:4", 4, "sha:c")];

    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private string NewPath() => _temp.File($"{Guid.NewGuid():N}/train.mtkc");

    private static TeacherCacheHeader Header(CacheDType dtype) =>
        new(TeacherCacheHeader.CurrentFormat, dtype, "train", Rows, Classes, "fashion-mnist", "fp-data", "fp-pool", Teachers, "");

    /// <summary>Teacher t's logits [Rows,C] and embeddings [Rows,D] with values that identify (t, row, column).</summary>
    private static (float[] Logits, float[] Embeddings) Outputs(int t)
    {
        int d = Teachers[t].EmbeddingWidth;
        var logits = new float[Rows * Classes];
        var emb = new float[Rows * d];
        for (int r = 0; r < Rows; r++)
        {
            for (int c = 0; c < Classes; c++) logits[r * Classes + c] = 100 * t + r + 0.01f * c;
            for (int j = 0; j < d; j++) emb[r * d + j] = -(100 * t + r + 0.01f * j);
        }
        return (logits, emb);
    }

    private string Build(CacheDType dtype, int splitAt = 4)
    {
        string path = NewPath();
        using var w = new TeacherCacheFile.Writer(path, Header(dtype));
        for (int t = 0; t < Teachers.Length; t++)
        {
            var (l, e) = Outputs(t);
            int d = Teachers[t].EmbeddingWidth;
            // Two chunks, as a teacher's forward pass over a split in batches would write them.
            w.Write(t, 0, l.AsSpan(0, splitAt * Classes), e.AsSpan(0, splitAt * d));
            w.Write(t, splitAt, l.AsSpan(splitAt * Classes), e.AsSpan(splitAt * d));
        }
        w.Commit();
        return path;
    }

    [Theory]
    [InlineData(CacheDType.F32)]
    [InlineData(CacheDType.F16)]
    public void Gather_returns_each_teachers_rows_in_the_op_layouts(CacheDType dtype)
    {
        string path = Build(dtype);
        using var cache = TeacherCacheFile.Open(path);
        Assert.Equal(Teachers, cache.Header.Teachers);
        int[] rows = [7, 0, 10, 7];
        int b = rows.Length, f = cache.Header.F;
        var zt = new float[Teachers.Length * b * Classes];
        var ft = new float[b * f];
        cache.Gather(rows, zt, ft);
        for (int t = 0; t < Teachers.Length; t++)
        {
            var (l, e) = Outputs(t);
            int d = Teachers[t].EmbeddingWidth, off = Teachers.Take(t).Sum(x => x.EmbeddingWidth);
            for (int r = 0; r < b; r++)
            {
                for (int c = 0; c < Classes; c++)
                    Assert.Equal(Expected(l[rows[r] * Classes + c], dtype), zt[(t * b + r) * Classes + c]);
                for (int j = 0; j < d; j++)
                    Assert.Equal(Expected(e[rows[r] * d + j], dtype), ft[r * f + off + j]);
            }
        }
    }

    private static float Expected(float v, CacheDType dtype) => dtype == CacheDType.F32 ? v : (float)(Half)v;

    [Fact]
    public void A_flipped_byte_fails_the_checksum()
    {
        string path = Build(CacheDType.F32);
        var bytes = File.ReadAllBytes(path);
        bytes[^5] ^= 0x40;
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<MtkdInputException>(() => TeacherCacheFile.Open(path));
        Assert.Contains("checksum mismatch", e.Message);
        Assert.StartsWith(path, e.Message);
    }

    [Fact]
    public void Truncated_or_foreign_files_are_refused()
    {
        string path = Build(CacheDType.F16);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^3]);
        Assert.Contains("truncated", Assert.Throws<MtkdInputException>(() => TeacherCacheFile.Open(path)).Message);

        File.WriteAllBytes(path, "PK\u0003\u0004 not a cache at all"u8.ToArray());
        Assert.Contains("not a teacher cache", Assert.Throws<MtkdInputException>(() => TeacherCacheFile.Open(path)).Message);

        var huge = bytes[..16];
        BitConverter.GetBytes(long.MaxValue).CopyTo(huge, 8);
        File.WriteAllBytes(path, huge);
        Assert.Contains("header length", Assert.Throws<MtkdInputException>(() => TeacherCacheFile.Open(path)).Message);
    }

    [Fact]
    public void A_build_that_is_not_committed_leaves_nothing_behind()
    {
        string path = NewPath();
        using (var w = new TeacherCacheFile.Writer(path, Header(CacheDType.F32)))
        {
            var (l, e) = Outputs(0);
            w.Write(0, 0, l, e);
        }
        Assert.Empty(Directory.GetFileSystemEntries(Path.GetDirectoryName(path)!));
    }

    [Fact]
    public void Rows_outside_the_cache_are_refused()
    {
        using var cache = TeacherCacheFile.Open(Build(CacheDType.F32));
        var zt = new float[Teachers.Length * Classes];
        var ft = new float[cache.Header.F];
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.Gather([Rows], zt, ft));
    }
}
