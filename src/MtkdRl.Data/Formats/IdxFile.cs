using System.Buffers.Binary;
using System.IO.Compression;
using MtkdRl.Core;

namespace MtkdRl.Data.Formats;

/// <summary>
/// IDX files (the MNIST family's format), gzip-compressed or raw: a magic of two zero bytes, an element type code
/// and a rank, then one big-endian uint32 per dimension, then the elements. Only unsigned bytes are read, which is
/// what images and labels use. Every size is checked against the file before the payload is allocated.
/// </summary>
public static class IdxFile
{
    public const byte UnsignedByte = 0x08;

    public static IdxHeader ReadHeader(string path)
    {
        using var reader = PayloadReader.Open(path);
        return ReadHeader(reader);
    }

    /// <summary>Reads an unsigned-byte array of the given rank; <paramref name="role"/> names what it should hold, for errors.</summary>
    public static IdxArray Read(string path, int expectedRank, string role)
    {
        using var reader = PayloadReader.Open(path);
        IdxHeader header = ReadHeader(reader);
        if (header.Rank != expectedRank)
            throw new MtkdInputException(
                $"{path}: IDX array has rank {header.Rank} ({string.Join('x', header.Dims)}), expected rank {expectedRank} for {role}");
        long bytes = header.ElementCount;
        string promise = header.Describe();
        reader.ExpectPayload(bytes, promise);
        var data = new byte[bytes];
        reader.ReadExactly(data, held => $"header says {promise} ({bytes} bytes), file holds {held}");
        reader.ExpectEnd(promise);
        return new IdxArray(header.Dims, data, path);
    }

    /// <summary>Images [N,H,W] of unsigned bytes.</summary>
    public static IdxArray ReadImages(string path) => Read(path, 3, "images [N,H,W]");

    /// <summary>Labels [N], each checked to be below <paramref name="classCount"/>.</summary>
    public static int[] ReadLabels(string path, int classCount)
    {
        IdxArray array = Read(path, 1, "labels [N]");
        var labels = new int[array.Data.Length];
        for (int i = 0; i < labels.Length; i++)
        {
            int label = array.Data[i];
            if (label >= classCount)
                throw new MtkdInputException($"{path}: label {label} at row {i} is outside 0..{classCount - 1}");
            labels[i] = label;
        }
        return labels;
    }

    /// <summary>Writes an unsigned-byte IDX file atomically, gzip-compressed unless <paramref name="gzip"/> is false.</summary>
    public static void Write(string path, ReadOnlySpan<byte> data, ReadOnlySpan<int> dims, bool gzip = true)
    {
        if (dims.Length is 0 or > byte.MaxValue)
            throw new ArgumentException($"IDX rank must be 1..255, got {dims.Length}", nameof(dims));
        long count = 1;
        foreach (int d in dims)
        {
            if (d < 0) throw new ArgumentException($"IDX dimensions must be non-negative, got {d}", nameof(dims));
            count *= d;
        }
        if (count != data.Length)
            throw new ArgumentException($"IDX dimensions {string.Join('x', dims.ToArray())} need {count} bytes, got {data.Length}", nameof(data));

        byte[] header = new byte[4 + 4 * dims.Length];
        header[2] = UnsignedByte;
        header[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++)
            BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4 + 4 * i), dims[i]);

        byte[] payload = data.ToArray();
        AtomicFile.Write(path, gzip ? 0 : header.Length + payload.Length, stream =>
        {
            if (gzip)
            {
                using var zip = new GZipStream(stream, CompressionLevel.SmallestSize, leaveOpen: true);
                zip.Write(header);
                zip.Write(payload);
            }
            else
            {
                stream.Write(header);
                stream.Write(payload);
            }
        });
    }

    private static IdxHeader ReadHeader(PayloadReader reader)
    {
        string path = reader.Path;
        Span<byte> magic = stackalloc byte[4];
        reader.ReadExactly(magic, held => $"{held} bytes, an IDX header needs at least 4");
        if (magic[0] != 0 || magic[1] != 0)
            throw new MtkdInputException(
                $"{path}: not an IDX file (magic {Convert.ToHexString(magic)}, expected 0000 then a type code and a rank)");
        byte type = magic[2];
        if (type != UnsignedByte)
            throw new MtkdInputException(
                $"{path}: IDX element type 0x{type:X2} ({IdxHeader.TypeName(type)}) is not supported, only unsigned bytes (0x08)");
        int rank = magic[3];
        if (rank == 0) throw new MtkdInputException($"{path}: IDX header has rank 0");

        Span<byte> dimBytes = stackalloc byte[4 * rank];
        reader.ReadExactly(dimBytes, held => $"IDX header of rank {rank} needs {4 * rank} dimension bytes, file holds {held}");
        var dims = new int[rank];
        long product = 1;
        for (int i = 0; i < rank; i++)
        {
            uint d = BinaryPrimitives.ReadUInt32BigEndian(dimBytes[(4 * i)..]);
            if (d > int.MaxValue)
                throw new MtkdInputException($"{path}: IDX dimension {i} is {d}, too large");
            dims[i] = (int)d;
            if (d != 0 && product > long.MaxValue / d)
                throw new MtkdInputException($"{path}: IDX dimensions {string.Join('x', dims[..(i + 1)])}... overflow a 64-bit size");
            product *= d;
        }
        return new IdxHeader(type, dims);
    }
}
