namespace MtkdRl.Training;

/// <summary>
/// The box head's four outputs at a location, centre offset and size (docs/DETECTION.md): with s the output
/// stride and (px, py) = ((x + 0.5) s, (y + 0.5) s) the location's centre in pixels,
/// <code>
///   t0 = (cx - px) / s     t1 = (cy - py) / s     t2 = ln(w / s)     t3 = ln(h / s)
/// </code>
/// and decoding inverts it. Sizes decode through exp of t clamped to [-MaxLogScale, MaxLogScale], so a wild
/// output gives a huge box, never an infinite one.
/// </summary>
public static class BoxCoding
{
    public const int Outputs = 4;
    public const double MaxLogScale = 8;

    public static double CenterOf(int cell, int stride) => (cell + 0.5) * stride;

    /// <summary>Writes the four targets of <paramref name="box"/> seen from location (x, y) into <paramref name="t"/>.</summary>
    public static void Encode(in DetectionBox box, int x, int y, int stride, Span<float> t)
    {
        t[0] = (float)((box.CenterX - CenterOf(x, stride)) / stride);
        t[1] = (float)((box.CenterY - CenterOf(y, stride)) / stride);
        t[2] = (float)Math.Log(Math.Max(box.W, 1e-3) / stride);
        t[3] = (float)Math.Log(Math.Max(box.H, 1e-3) / stride);
    }

    /// <summary>The box of category <paramref name="category"/> that the outputs <paramref name="t"/> at location (x, y) describe.</summary>
    public static DetectionBox Decode(ReadOnlySpan<float> t, int x, int y, int stride, int category)
    {
        double cx = CenterOf(x, stride) + t[0] * (double)stride, cy = CenterOf(y, stride) + t[1] * (double)stride;
        double w = stride * Math.Exp(Math.Clamp(t[2], -MaxLogScale, MaxLogScale));
        double h = stride * Math.Exp(Math.Clamp(t[3], -MaxLogScale, MaxLogScale));
        return new DetectionBox(category, cx - w / 2, cy - h / 2, w, h);
    }

    /// <summary>The box clipped to a canvas of <paramref name="width"/> x <paramref name="height"/> pixels.</summary>
    public static DetectionBox Clip(in DetectionBox b, int width, int height)
    {
        double x0 = Math.Clamp(b.X, 0, width), y0 = Math.Clamp(b.Y, 0, height);
        double x1 = Math.Clamp(b.X + b.W, 0, width), y1 = Math.Clamp(b.Y + b.H, 0, height);
        return b with { X = x0, Y = y0, W = x1 - x0, H = y1 - y0 };
    }
}
