using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>
/// Between a dense network's channel-major maps [B, C, P] (P = H*W pixels) and the row layout of the losses
/// and the distillation op, where each pixel is one row: rows [B*P, C], row b*P + p holding pixel p of image b.
/// Masks (one byte per pixel, 255 = ignore) become row labels with ignored pixels as -1 rows.
/// </summary>
public static class PixelRows
{
    /// <summary>The ignore value of a mask.</summary>
    public const byte Ignore = 255;

    /// <summary>rows[(b*P + p)*C + c] = maps[(b*C + c)*P + p].</summary>
    public static void ToRows(ReadOnlySpan<float> maps, int images, int channels, int pixels, Span<float> rows)
    {
        Check(maps.Length, rows.Length, images, channels, pixels);
        for (int b = 0; b < images; b++)
            for (int c = 0; c < channels; c++)
            {
                var plane = maps.Slice((b * channels + c) * pixels, pixels);
                int row = b * pixels * channels + c;
                for (int p = 0; p < pixels; p++, row += channels) rows[row] = plane[p];
            }
    }

    /// <summary>The inverse of <see cref="ToRows"/>: maps[(b*C + c)*P + p] = rows[(b*P + p)*C + c].</summary>
    public static void FromRows(ReadOnlySpan<float> rows, int images, int channels, int pixels, Span<float> maps)
    {
        Check(maps.Length, rows.Length, images, channels, pixels);
        for (int b = 0; b < images; b++)
            for (int c = 0; c < channels; c++)
            {
                var plane = maps.Slice((b * channels + c) * pixels, pixels);
                int row = b * pixels * channels + c;
                for (int p = 0; p < pixels; p++, row += channels) plane[p] = rows[row];
            }
    }

    /// <summary>Row labels from a mask: the class (which must be below <paramref name="classes"/>) or -1 for 255.</summary>
    public static void Labels(ReadOnlySpan<byte> mask, int classes, Span<int> labels)
    {
        if (labels.Length < mask.Length) throw new MtkdInputException($"pixel labels: {labels.Length} slots for {mask.Length} pixels");
        for (int i = 0; i < mask.Length; i++)
        {
            byte v = mask[i];
            if (v == Ignore) labels[i] = -1;
            else if (v < classes) labels[i] = v;
            else throw new MtkdInputException($"pixel labels: value {v} at pixel {i} is neither a class 0..{classes - 1} nor {Ignore} (ignore)");
        }
    }

    private static void Check(int mapLength, int rowLength, int images, int channels, int pixels)
    {
        long needed = (long)images * channels * pixels;
        if (images < 0 || channels <= 0 || pixels <= 0 || mapLength < needed || rowLength < needed)
            throw new MtkdInputException($"pixel rows: {images} images x {channels} channels x {pixels} pixels need {needed} values (maps hold {mapLength}, rows {rowLength})");
    }
}
