using System.Buffers;
using System.IO.Compression;
using System.Numerics;
using System.Runtime.InteropServices;

namespace MtkdRl.Core.Formats;

/// <summary>
/// Lossless compression of one dense cache record (docs/SCENES.md, "Size"): the K teachers' logit maps
/// [W·H, columns] and the F embedding values, float16 or float32, stored bit for bit.
///
/// A teacher's logit for one class varies smoothly over the image, so each class's W x H map is coded as
/// residuals of a plane predictor: every value's bits are first mapped to an integer that orders like the float
/// (negative values' bits inverted, positive ones' sign bit set), then predicted from its left, upper and
/// upper-left neighbours (left + up - upper-left, wrapping), and the residual kept. The residuals' bytes are
/// split into planes (every value's low byte, then every value's next byte, ...), which puts the
/// near-constant high bytes side by side, and the planes are deflated. Decoding runs the same steps backwards,
/// so a record comes back exactly as it was written: the cache still gives a live run's numbers to float16
/// rounding.
/// </summary>
public static class DenseRecordCodec
{
    public const string Name = "planes-deflate";

    /// <summary>Compresses one record (<paramref name="record"/>: K x rows x columns logits then the embeddings).</summary>
    public static byte[] Encode(ReadOnlySpan<byte> record, DenseCacheGrid grid, int k, int elementSize, CompressionLevel level = CompressionLevel.Optimal)
    {
        var planes = ArrayPool<byte>.Shared.Rent(record.Length);
        try
        {
            if (elementSize == 2) ToPlanes(MemoryMarshal.Cast<byte, ushort>(record), planes, grid, k);
            else if (elementSize == 4) ToPlanes(MemoryMarshal.Cast<byte, uint>(record), planes, grid, k);
            else throw new ArgumentOutOfRangeException(nameof(elementSize));
            using var output = new MemoryStream(record.Length / 2 + 64);
            using (var deflate = new DeflateStream(output, level, leaveOpen: true)) deflate.Write(planes, 0, record.Length);
            return output.ToArray();
        }
        finally { ArrayPool<byte>.Shared.Return(planes); }
    }

    /// <summary>Restores a record from <paramref name="compressed"/> into <paramref name="record"/> (its exact size).
    /// A stream that does not inflate to exactly that size is refused (<see cref="InvalidDataException"/>).</summary>
    public static unsafe void Decode(ReadOnlySpan<byte> compressed, Span<byte> record, DenseCacheGrid grid, int k, int elementSize)
    {
        var planes = ArrayPool<byte>.Shared.Rent(record.Length);
        try
        {
            fixed (byte* source = compressed)
            {
                using var input = new UnmanagedMemoryStream(source, compressed.Length);
                using var inflate = new DeflateStream(input, CompressionMode.Decompress);
                int read = inflate.ReadAtLeast(planes.AsSpan(0, record.Length), record.Length, throwOnEndOfStream: false);
                Span<byte> extra = stackalloc byte[1];
                if (read != record.Length || inflate.Read(extra) != 0)
                    throw new InvalidDataException($"a record inflates to {(read == record.Length ? "more than" : read.ToString())} bytes, not {record.Length}");
            }
            if (elementSize == 2) FromPlanes(planes.AsSpan(0, record.Length), MemoryMarshal.Cast<byte, ushort>(record), grid, k);
            else if (elementSize == 4) FromPlanes(planes.AsSpan(0, record.Length), MemoryMarshal.Cast<byte, uint>(record), grid, k);
            else throw new ArgumentOutOfRangeException(nameof(elementSize));
        }
        finally { ArrayPool<byte>.Shared.Return(planes); }
    }

    /// <summary>The values' residuals, as ordered integers in the order the planes store them (per teacher, per
    /// column, the map row by row; then the embeddings), split into byte planes.</summary>
    private static void ToPlanes<T>(ReadOnlySpan<T> values, Span<byte> planes, DenseCacheGrid grid, int k)
        where T : unmanaged, IBinaryInteger<T>, IUnsignedNumber<T>
    {
        int n = values.Length, rows = grid.RowsPerImage, columns = grid.Columns, maps = k * columns;
        CheckShape(n, rows, maps);
        var ordered = ArrayPool<T>.Shared.Rent(n);
        var residual = ArrayPool<T>.Shared.Rent(n);
        try
        {
            int at = 0;
            for (int t = 0; t < k; t++)
                for (int c = 0; c < columns; c++)
                    for (int p = 0; p < rows; p++)
                        ordered[at++] = ToOrdered(values[(t * rows + p) * columns + c]);
            for (int i = maps * rows; i < n; i++) ordered[i] = ToOrdered(values[i]);
            for (int m = 0; m < maps; m++) Residuals(ordered.AsSpan(m * rows, rows), residual.AsSpan(m * rows, rows), grid.Width, grid.Height);
            ordered.AsSpan(maps * rows, n - maps * rows).CopyTo(residual.AsSpan(maps * rows));
            SplitPlanes(residual.AsSpan(0, n), planes);
        }
        finally { ArrayPool<T>.Shared.Return(ordered); ArrayPool<T>.Shared.Return(residual); }
    }

    /// <summary>Decoding in one sweep per map: each row's residuals are joined from the planes, restored against the
    /// row above and written to the record's [rows, columns] layout, with no whole-record intermediate.</summary>
    private static void FromPlanes<T>(ReadOnlySpan<byte> planes, Span<T> values, DenseCacheGrid grid, int k)
        where T : unmanaged, IBinaryInteger<T>, IUnsignedNumber<T>
    {
        int n = values.Length, rows = grid.RowsPerImage, columns = grid.Columns, maps = k * columns, w = grid.Width;
        int size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        CheckShape(n, rows, maps);
        var buffer = ArrayPool<T>.Shared.Rent(2 * w);
        try
        {
            for (int m = 0; m < maps; m++)
            {
                int t = m / columns, c = m % columns;
                Span<T> up = buffer.AsSpan(0, w), row = buffer.AsSpan(w, w);
                for (int y = 0; y < grid.Height; y++)
                {
                    int start = m * rows + y * w;
                    JoinPlanes(planes, n, start, row, size);
                    if (y == 0)
                        for (int x = 1; x < w; x++) row[x] = unchecked(row[x] + row[x - 1]);
                    else
                    {
                        // With D[x] = row[x] - up[x], the residual is D[x] - D[x-1]: a running sum restores D.
                        T carry = T.Zero;
                        for (int x = 0; x < w; x++)
                        {
                            carry = unchecked(carry + row[x]);
                            row[x] = unchecked(carry + up[x]);
                        }
                    }
                    var destination = values[((t * rows + y * w) * columns + c)..];
                    for (int x = 0; x < w; x++) destination[x * columns] = FromOrdered(row[x]);
                    var swap = up; up = row; row = swap;
                }
            }
            int embedded = n - maps * rows;
            var tail = values[(maps * rows)..];
            JoinPlanes(planes, n, maps * rows, tail, size);
            for (int i = 0; i < embedded; i++) tail[i] = FromOrdered(tail[i]);
        }
        finally { ArrayPool<T>.Shared.Return(buffer); }
    }

    /// <summary>Values start..start+destination.Length joined from the <paramref name="size"/> byte planes of n values each.</summary>
    private static void JoinPlanes<T>(ReadOnlySpan<byte> planes, int n, int start, Span<T> destination, int size)
        where T : unmanaged, IBinaryInteger<T>, IUnsignedNumber<T>
    {
        int count = destination.Length;
        var low = planes.Slice(start, count);
        for (int i = 0; i < count; i++) destination[i] = T.CreateTruncating(low[i]);
        for (int j = 1; j < size; j++)
        {
            var plane = planes.Slice(j * n + start, count);
            for (int i = 0; i < count; i++) destination[i] |= T.CreateTruncating(plane[i]) << (8 * j);
        }
    }

    private static void CheckShape(int n, int rows, int maps)
    {
        if ((long)maps * rows > n) throw new ArgumentException($"a record of {n} values cannot hold {maps} maps of {rows} rows");
    }

    // The plane predictor: left + up - upper-left inside the map, left on the first row, up on the first column,
    // 0 at the corner; wrapping arithmetic, so every residual is exact.

    private static void Residuals<T>(ReadOnlySpan<T> map, Span<T> residual, int w, int h)
        where T : unmanaged, IBinaryInteger<T>, IUnsignedNumber<T>
    {
        residual[0] = map[0];
        for (int x = 1; x < w; x++) residual[x] = unchecked(map[x] - map[x - 1]);
        for (int y = 1; y < h; y++)
        {
            var row = map.Slice(y * w, w);
            var up = map.Slice((y - 1) * w, w);
            var r = residual.Slice(y * w, w);
            r[0] = unchecked(row[0] - up[0]);
            for (int x = 1; x < w; x++) r[x] = unchecked(row[x] - row[x - 1] - up[x] + up[x - 1]);
        }
    }

    private static T SignBit<T>() where T : unmanaged, IBinaryInteger<T>, IUnsignedNumber<T> => T.One << (System.Runtime.CompilerServices.Unsafe.SizeOf<T>() * 8 - 1);

    private static T ToOrdered<T>(T bits) where T : unmanaged, IBinaryInteger<T>, IUnsignedNumber<T>
    {
        T sign = SignBit<T>();
        return (bits & sign) != T.Zero ? ~bits : bits | sign;
    }

    private static T FromOrdered<T>(T ordered) where T : unmanaged, IBinaryInteger<T>, IUnsignedNumber<T>
    {
        T sign = SignBit<T>();
        return (ordered & sign) != T.Zero ? ordered & ~sign : ~ordered;
    }

    private static void SplitPlanes<T>(ReadOnlySpan<T> values, Span<byte> planes) where T : unmanaged, IBinaryInteger<T>, IUnsignedNumber<T>
    {
        int n = values.Length, size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        for (int j = 0; j < size; j++)
        {
            var plane = planes.Slice(j * n, n);
            for (int i = 0; i < n; i++) plane[i] = byte.CreateTruncating(values[i] >> (8 * j));
        }
    }
}
