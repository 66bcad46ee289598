using System.Runtime.InteropServices;
using System.Text;
using MtkdRl.Core;

namespace MtkdRl.Data.Formats;

/// <summary>
/// NPY files (numpy's .npy, versions 1.0 to 3.0) without pickle: little-endian bool, int8, uint8, int32, int64,
/// float16, float32 and float64 in C order. The header is parsed strictly and checked against the file before the
/// data is allocated; the writer produces what numpy.save produces, atomically.
/// </summary>
public static class NpyFile
{
    /// <summary>Reads only the header (to check a shape before loading, or to list what a file holds).</summary>
    public static NpyHeader ReadHeader(string path)
    {
        using var reader = PayloadReader.Open(path);
        return ReadHeader(reader);
    }

    public static NpyArray Read(string path)
    {
        using var reader = PayloadReader.Open(path);
        return Read(reader);
    }

    public static void Write(string path, NpyArray array) =>
        AtomicFile.Write(path, NpyHeader.Format(array.DType, array.Shape).Length + array.Length * array.DType.ItemSize(), stream => WriteTo(stream, array));

    public static void Write<T>(string path, T[] data, params int[] shape) where T : unmanaged =>
        Write(path, NpyArray.Create(data, shape));

    internal static NpyArray Read(PayloadReader reader)
    {
        NpyHeader header = ReadHeader(reader);
        string promise = $"shape {header.ShapeText} of {header.DType.Name()}";
        reader.ExpectPayload(header.DataBytes, promise);
        Array data = Array.CreateInstance(header.DType.ElementType(), header.ElementCount);
        ReadElements(reader, data, header, promise);
        if (data is bool[] flags) CheckBooleans(reader.Path, flags);
        reader.ExpectEnd("array data");
        return new NpyArray(data, header.Shape, reader.Path);
    }

    internal static void WriteTo(Stream stream, NpyArray array)
    {
        EnsureLittleEndianHost();
        stream.Write(NpyHeader.Format(array.DType, array.Shape));
        int itemSize = array.DType.ItemSize();
        // Chunks keep each span under 2 GiB of bytes whatever the element count.
        const int chunkBytes = 1 << 24;
        int chunkElements = chunkBytes / itemSize;
        for (long start = 0; start < array.Length; start += chunkElements)
        {
            int n = (int)Math.Min(chunkElements, array.Length - start);
            stream.Write(ElementBytes(array.Data, (int)start, n));
        }
    }

    internal static NpyHeader ReadHeader(PayloadReader reader)
    {
        EnsureLittleEndianHost();
        string path = reader.Path;
        Span<byte> preamble = stackalloc byte[8];
        reader.ReadExactly(preamble, held => $"{held} bytes, an NPY file starts with an 8-byte magic and version");
        if (!preamble[..6].SequenceEqual(NpyFormat.Magic))
            throw new MtkdInputException($"{path}: not an NPY file (magic {Convert.ToHexString(preamble[..6])}, expected 934E554D5059)");
        int major = preamble[6], minor = preamble[7];
        if (major is < 1 or > 3 || minor != 0)
            throw new MtkdInputException($"{path}: NPY version {major}.{minor} is not supported (1.0, 2.0, 3.0 are)");

        int lengthSize = major == 1 ? 2 : 4;
        Span<byte> lengthBytes = stackalloc byte[lengthSize];
        reader.ReadExactly(lengthBytes, held => $"NPY {major}.0 header length needs {lengthSize} bytes, file holds {held}");
        long headerLength = major == 1 ? BitConverter.ToUInt16(lengthBytes) : BitConverter.ToUInt32(lengthBytes);
        if (headerLength > NpyFormat.MaxHeaderLength)
            throw new MtkdInputException($"{path}: NPY header length {headerLength} exceeds the limit of {NpyFormat.MaxHeaderLength} bytes");
        var headerBytes = new byte[headerLength];
        reader.ReadExactly(headerBytes, held => $"NPY header says {headerLength} bytes, file holds {held}");

        string text;
        try
        {
            // Versions 1 and 2 are latin-1, version 3 is UTF-8; a valid header is ASCII either way.
            text = major == 3 ? new UTF8Encoding(false, true).GetString(headerBytes) : Encoding.Latin1.GetString(headerBytes);
        }
        catch (DecoderFallbackException)
        {
            throw new MtkdInputException($"{path}: NPY header is not valid UTF-8");
        }
        var parsed = NpyHeaderParser.TryParse(text, out string problem)
            ?? throw new MtkdInputException($"{path}: {problem}");
        long count = 1;
        foreach (int d in parsed.Shape)
        {
            if (d != 0 && count > long.MaxValue / d / parsed.DType.ItemSize())
                throw new MtkdInputException($"{path}: shape {NpyHeader.FormatShape(parsed.Shape)} overflows a 64-bit size");
            count *= d;
        }
        return new NpyHeader(parsed.DType, parsed.Shape, preamble.Length + lengthSize + headerLength);
    }

    private static void ReadElements(PayloadReader reader, Array data, NpyHeader header, string promise)
    {
        int itemSize = header.DType.ItemSize();
        const int chunkBytes = 1 << 24;
        int chunkElements = chunkBytes / itemSize;
        long total = header.ElementCount;
        for (long start = 0; start < total; start += chunkElements)
        {
            int n = (int)Math.Min(chunkElements, total - start);
            long before = start * itemSize;
            reader.ReadExactly(ElementBytes(data, (int)start, n),
                held => $"{promise} needs {header.DataBytes} bytes of data, the file holds {before + held}");
        }
    }

    /// <summary>The bytes of elements [start, start + count) of a typed array, without copying.</summary>
    private static Span<byte> ElementBytes(Array data, int start, int count) => data switch
    {
        bool[] a => MemoryMarshal.AsBytes(a.AsSpan(start, count)),
        sbyte[] a => MemoryMarshal.AsBytes(a.AsSpan(start, count)),
        byte[] a => a.AsSpan(start, count),
        int[] a => MemoryMarshal.AsBytes(a.AsSpan(start, count)),
        long[] a => MemoryMarshal.AsBytes(a.AsSpan(start, count)),
        Half[] a => MemoryMarshal.AsBytes(a.AsSpan(start, count)),
        float[] a => MemoryMarshal.AsBytes(a.AsSpan(start, count)),
        double[] a => MemoryMarshal.AsBytes(a.AsSpan(start, count)),
        _ => throw new ArgumentException($"unsupported element type {data.GetType().Name}", nameof(data)),
    };

    /// <summary>A .NET bool must be 0 or 1; any other byte would make comparisons misbehave, so it is refused here.</summary>
    private static void CheckBooleans(string path, bool[] flags)
    {
        ReadOnlySpan<byte> bytes = MemoryMarshal.AsBytes(flags.AsSpan());
        int bad = bytes.IndexOfAnyExcept((byte)0, (byte)1);
        if (bad >= 0) throw new MtkdInputException($"{path}: bool element {bad} has byte value {bytes[bad]}, expected 0 or 1");
    }

    private static void EnsureLittleEndianHost()
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("NPY reading and writing assume a little-endian host");
    }
}
