using System.Text;

namespace MtkdRl.Data.Formats;

/// <summary>A parsed NPY header: dtype, C-order shape, and where the data starts.</summary>
public sealed record NpyHeader(NpyDType DType, int[] Shape, long DataOffset)
{
    public long ElementCount => Shape.Aggregate(1L, (product, d) => product * d);

    public long DataBytes => ElementCount * DType.ItemSize();

    public string ShapeText => FormatShape(Shape);

    /// <summary>A shape as Python prints a tuple: (), (3,), (2, 3).</summary>
    public static string FormatShape(IReadOnlyList<int> shape) =>
        shape.Count == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";

    /// <summary>The header dict exactly as numpy writes it, padded with spaces and a newline so the data starts 64-byte aligned.</summary>
    internal static byte[] Format(NpyDType dtype, IReadOnlyList<int> shape)
    {
        string dict = $"{{'descr': '{dtype.Descr()}', 'fortran_order': False, 'shape': {FormatShape(shape)}, }}";
        int preambleV1 = NpyFormat.Magic.Length + 2 + 2;
        int total = preambleV1 + dict.Length + 1;
        bool v2 = RoundUp(total, NpyFormat.Alignment) - preambleV1 > ushort.MaxValue;
        int preamble = v2 ? preambleV1 + 2 : preambleV1;
        int padded = RoundUp(preamble + dict.Length + 1, NpyFormat.Alignment);
        int headerLength = padded - preamble;

        var bytes = new byte[padded];
        NpyFormat.Magic.CopyTo(bytes, 0);
        bytes[6] = (byte)(v2 ? 2 : 1);
        bytes[7] = 0;
        if (v2) BitConverter.TryWriteBytes(bytes.AsSpan(8, 4), (uint)headerLength);
        else BitConverter.TryWriteBytes(bytes.AsSpan(8, 2), (ushort)headerLength);
        Encoding.ASCII.GetBytes(dict, bytes.AsSpan(preamble));
        bytes.AsSpan(preamble + dict.Length, padded - preamble - dict.Length - 1).Fill((byte)' ');
        bytes[^1] = (byte)'\n';
        return bytes;
    }

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;
}

internal static class NpyFormat
{
    public static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>numpy aligns the data to 64 bytes so that it can be memory-mapped and read with wide loads.</summary>
    public const int Alignment = 64;

    /// <summary>numpy's own reader refuses headers longer than this (np.lib.format, max_header_size), for the same reason: a parser must not trust a length.</summary>
    public const int MaxHeaderLength = 10_000;
}
