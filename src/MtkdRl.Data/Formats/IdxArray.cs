namespace MtkdRl.Data.Formats;

/// <summary>An IDX array of unsigned bytes, row-major, with the file it came from (for error messages).</summary>
public sealed record IdxArray(int[] Dims, byte[] Data, string Source)
{
    public int Count => Dims[0];
}
