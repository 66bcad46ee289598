using System.Buffers.Binary;
using System.IO.Compression;

namespace MtkdRl.Tests.Data;

/// <summary>A private temporary folder per test, deleted afterwards, plus helpers to write hostile files byte by byte.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Root = Path.Combine(Path.GetTempPath(), "mtkd-data-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public string File(string name)
    {
        string path = Path.Combine(Root, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return path;
    }

    public string Write(string name, byte[] bytes)
    {
        string path = File(name);
        System.IO.File.WriteAllBytes(path, bytes);
        return path;
    }

    public string Sub(string name)
    {
        string path = Path.Combine(Root, name);
        Directory.CreateDirectory(path);
        return path;
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

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

public static class RepositoryPaths
{
    public static string Root
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (System.IO.File.Exists(Path.Combine(dir.FullName, "MtkdRl.Native.sln"))) return dir.FullName;
            throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
        }
    }
}
