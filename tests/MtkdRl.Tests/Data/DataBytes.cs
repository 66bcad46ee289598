using System.Buffers.Binary;
using System.IO.Compression;

namespace MtkdRl.Tests.Data;

/// <summary>Hand-built file contents, valid or hostile, for the reader tests.</summary>
public static class DataBytes
{
    /// <summary>An IDX header: two zero bytes, type, rank, then big-endian dimensions (any values, however hostile).</summary>
    public static byte[] IdxHeader(byte type, params uint[] dims)
    {
        var bytes = new byte[4 + 4 * dims.Length];
        bytes[2] = type;
        bytes[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        return bytes;
    }

    public static byte[] Gzip(byte[] data)
    {
        var output = new MemoryStream();
        using (var zip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true)) zip.Write(data);
        return output.ToArray();
    }

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    public static byte[] Random(int seed, int length)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>An NPY v1.0 file with the given header text (padded as numpy pads it) and payload.</summary>
    public static byte[] Npy(string header, byte[] payload, byte major = 1)
    {
        int preamble = major == 1 ? 10 : 12;
        int total = (preamble + header.Length + 1 + 63) / 64 * 64;
        string padded = header.PadRight(total - preamble - 1) + "\n";
        var bytes = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', major, 0 };
        if (major == 1) bytes.AddRange(BitConverter.GetBytes((ushort)padded.Length));
        else bytes.AddRange(BitConverter.GetBytes((uint)padded.Length));
        bytes.AddRange(System.Text.Encoding.ASCII.GetBytes(padded));
        bytes.AddRange(payload);
        return [.. bytes];
    }

    /// <summary>Bytes allocated on this thread while <paramref name="action"/> runs (it is expected to throw).</summary>
    public static long AllocatedWhile(Action action)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        try { action(); } catch (Exception) { }
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }
}
