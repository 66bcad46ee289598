namespace MtkdRl.Data.Scenes;

/// <summary>Resizes a channels-first unsigned-byte image, each channel on its own.</summary>
public static class ImageResize
{
    /// <summary>
    /// [Ch, H, W] to [Ch, <paramref name="height"/>, <paramref name="width"/>]. Pixel centres are aligned (the
    /// half-pixel convention of image libraries): output pixel x samples the source at (x + 0.5) * W / width - 0.5,
    /// clamped to the image; bilinear weighs the four neighbours, nearest takes the one whose centre is closest.
    /// The same size returns an exact copy.
    /// </summary>
    public static byte[] Resize(ReadOnlySpan<byte> source, int channels, int sourceHeight, int sourceWidth,
        int height, int width, SceneInterpolation interpolation)
    {
        var result = new byte[channels * height * width];
        if (height == sourceHeight && width == sourceWidth)
        {
            source[..result.Length].CopyTo(result);
            return result;
        }
        for (int c = 0; c < channels; c++)
        {
            var plane = source.Slice(c * sourceHeight * sourceWidth, sourceHeight * sourceWidth);
            var output = result.AsSpan(c * height * width, height * width);
            for (int y = 0; y < height; y++)
            {
                double sy = SourceCoordinate(y, sourceHeight, height);
                for (int x = 0; x < width; x++)
                {
                    double sx = SourceCoordinate(x, sourceWidth, width);
                    output[y * width + x] = interpolation == SceneInterpolation.Nearest
                        ? plane[Nearest(sy, sourceHeight) * sourceWidth + Nearest(sx, sourceWidth)]
                        : Bilinear(plane, sourceWidth, sourceHeight, sx, sy);
                }
            }
        }
        return result;
    }

    private static double SourceCoordinate(int index, int sourceSize, int size) =>
        Math.Clamp((index + 0.5) * sourceSize / size - 0.5, 0, sourceSize - 1);

    private static int Nearest(double coordinate, int size) =>
        Math.Min(size - 1, (int)Math.Floor(coordinate + 0.5));

    private static byte Bilinear(ReadOnlySpan<byte> plane, int width, int height, double sx, double sy)
    {
        int x0 = (int)sx, y0 = (int)sy;
        int x1 = Math.Min(x0 + 1, width - 1), y1 = Math.Min(y0 + 1, height - 1);
        double fx = sx - x0, fy = sy - y0;
        double top = plane[y0 * width + x0] * (1 - fx) + plane[y0 * width + x1] * fx;
        double bottom = plane[y1 * width + x0] * (1 - fx) + plane[y1 * width + x1] * fx;
        double value = top * (1 - fy) + bottom * fy;
        return (byte)Math.Clamp(Math.Round(value, MidpointRounding.AwayFromZero), 0, 255);
    }
}
