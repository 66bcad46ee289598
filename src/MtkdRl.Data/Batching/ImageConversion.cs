namespace MtkdRl.Data.Batching;

/// <summary>
/// Converts one channels-first byte image to normalised floats through a per-channel lookup table, optionally
/// cropping a window shifted by (dy, dx) out of the image padded with black, and mirroring it left-right.
/// Output pixel (y, x) takes source pixel (y + dy, x + dx) when that lies inside the image, else black; with the
/// flip, output column x takes what column W-1-x would have had. Black is byte 0, normalised like any pixel,
/// which is what padding an image and then normalising it gives.
/// </summary>
internal static class ImageConversion
{
    public static void Convert(ReadOnlySpan<byte> source, Span<float> destination, int channels, int height, int width, ReadOnlySpan<float> table)
    {
        int plane = height * width;
        for (int c = 0; c < channels; c++)
        {
            ReadOnlySpan<float> lut = table.Slice(c * 256, 256);
            ReadOnlySpan<byte> src = source.Slice(c * plane, plane);
            Span<float> dst = destination.Slice(c * plane, plane);
            for (int i = 0; i < dst.Length; i++) dst[i] = lut[src[i]];
        }
    }

    public static void ConvertShifted(ReadOnlySpan<byte> source, Span<float> destination, int channels, int height, int width,
        ReadOnlySpan<float> table, int dy, int dx, bool flip)
    {
        int plane = height * width;
        // Columns x with 0 <= x + dx < width come from the source; the rest are black.
        int firstInside = Math.Clamp(-dx, 0, width);
        int endInside = Math.Clamp(width - dx, firstInside, width);
        for (int c = 0; c < channels; c++)
        {
            ReadOnlySpan<float> lut = table.Slice(c * 256, 256);
            float black = lut[0];
            for (int y = 0; y < height; y++)
            {
                Span<float> dst = destination.Slice(c * plane + y * width, width);
                int sy = y + dy;
                if ((uint)sy >= (uint)height)
                {
                    dst.Fill(black);
                    continue;
                }
                ReadOnlySpan<byte> src = source.Slice(c * plane + sy * width, width);
                dst[..firstInside].Fill(black);
                for (int x = firstInside; x < endInside; x++) dst[x] = lut[src[x + dx]];
                dst[endInside..].Fill(black);
                if (flip) dst.Reverse();
            }
        }
    }
}
