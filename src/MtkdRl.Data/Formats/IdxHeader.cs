namespace MtkdRl.Data.Formats;

/// <summary>An IDX header: element type code and big-endian dimensions, already checked for overflow.</summary>
public sealed record IdxHeader(byte TypeCode, int[] Dims)
{
    public int Rank => Dims.Length;

    /// <summary>Bytes before the payload: the 4-byte magic plus 4 per dimension.</summary>
    public int HeaderBytes => 4 + 4 * Dims.Length;

    public long ElementCount => Dims.Aggregate(1L, (product, d) => product * d);

    /// <summary>What the header promises, in words: "60000 images of 28x28", "60000 labels" or "an array of 2x3x4".</summary>
    public string Describe() => Dims.Length switch
    {
        3 => $"{Dims[0]} images of {Dims[1]}x{Dims[2]}",
        1 => $"{Dims[0]} labels",
        _ => $"an array of {string.Join('x', Dims)}",
    };

    public static string TypeName(byte code) => code switch
    {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "int16",
        0x0C => "int32",
        0x0D => "float32",
        0x0E => "float64",
        _ => "unknown",
    };
}
