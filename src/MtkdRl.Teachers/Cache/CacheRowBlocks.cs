using System.Runtime.InteropServices;
using MtkdRl.Core.Cluster;
using MtkdRl.Core.Formats;

namespace MtkdRl.Teachers;

/// <summary>
/// One rank's share of a teacher's cache rows: blocks of (first row, rows, logits [rows,C], embeddings [rows,D])
/// packed into one byte buffer, sent to rank 0, which writes every rank's blocks into the cache file.
/// </summary>
internal sealed class CacheRowBlocks(int classes, int width)
{
    private readonly MemoryStream _bytes = new();

    public void Add(int first, int rows, ReadOnlySpan<float> logits, ReadOnlySpan<float> embeddings)
    {
        Span<int> head = [first, rows];
        _bytes.Write(MemoryMarshal.AsBytes(head));
        _bytes.Write(MemoryMarshal.AsBytes(logits[..(rows * classes)]));
        _bytes.Write(MemoryMarshal.AsBytes(embeddings[..(rows * width)]));
    }

    /// <summary>Collective: every rank's blocks reach rank 0, which writes them for <paramref name="teacher"/> (rank 0 passes its writer, the others null).</summary>
    public static void GatherInto(ICommunicator job, CacheRowBlocks mine, TeacherCacheFile.Writer? writer, int teacher)
    {
        var parts = job.Gather(mine._bytes.GetBuffer().AsSpan(0, (int)mine._bytes.Length));
        if (parts is null || writer is null) return;
        foreach (var part in parts) mine.WriteBlocks(part, writer, teacher);
    }

    private void WriteBlocks(byte[] part, TeacherCacheFile.Writer writer, int teacher)
    {
        int at = 0;
        while (at < part.Length)
        {
            var head = MemoryMarshal.Cast<byte, int>(part.AsSpan(at, 8));
            int first = head[0], rows = head[1];
            at += 8;
            int logitBytes = rows * classes * sizeof(float), embeddingBytes = rows * width * sizeof(float);
            var logits = MemoryMarshal.Cast<byte, float>(part.AsSpan(at, logitBytes));
            var embeddings = MemoryMarshal.Cast<byte, float>(part.AsSpan(at + logitBytes, embeddingBytes));
            writer.Write(teacher, first, logits, embeddings);
            at += logitBytes + embeddingBytes;
        }
    }
}
