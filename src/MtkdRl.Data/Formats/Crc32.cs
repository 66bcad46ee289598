namespace MtkdRl.Data.Formats;

/// <summary>
/// CRC-32 (the zip polynomial, reflected 0xEDB88320), to check zip members: the runtime's zip reader does not
/// verify stored members, and a flipped bit in imported teacher logits would otherwise go unnoticed.
/// Slicing-by-4: four table lookups per 4 bytes instead of one per byte.
/// </summary>
internal static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        uint c = ~crc;
        ReadOnlySpan<uint> t = Table;
        int i = 0;
        for (; i + 4 <= data.Length; i += 4)
        {
            c ^= (uint)(data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24);
            c = t[768 + (int)(c & 0xFF)] ^ t[512 + (int)((c >> 8) & 0xFF)] ^ t[256 + (int)((c >> 16) & 0xFF)] ^ t[(int)(c >> 24)];
        }
        for (; i < data.Length; i++) c = t[(int)((c ^ data[i]) & 0xFF)] ^ (c >> 8);
        return ~c;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[4 * 256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        for (int n = 0; n < 256; n++)
            for (int s = 1; s < 4; s++)
                table[s * 256 + n] = (table[(s - 1) * 256 + n] >> 8) ^ table[table[(s - 1) * 256 + n] & 0xFF];
        return table;
    }
}
