namespace MtkdRl.Training;

/// <summary>
/// An axis-aligned box in pixels, COCO style: (X, Y) the top-left corner, W and H the extent, so it covers
/// [X, X + W) x [Y, Y + H). <see cref="Category"/> is 1..C (0 is background, never a box's).
/// </summary>
public readonly record struct DetectionBox(int Category, double X, double Y, double W, double H)
{
    public double Area => W * H;

    public double CenterX => X + W / 2;

    public double CenterY => Y + H / 2;

    /// <summary>Intersection over union with <paramref name="other"/>, as COCO computes it (no +1 on sides); 0 when both are empty.</summary>
    public double Iou(in DetectionBox other)
    {
        double w = Math.Min(X + W, other.X + other.W) - Math.Max(X, other.X);
        double h = Math.Min(Y + H, other.Y + other.H) - Math.Max(Y, other.Y);
        if (w <= 0 || h <= 0) return 0;
        double inter = w * h, union = Area + other.Area - inter;
        return union > 0 ? inter / union : 0;
    }
}

/// <summary>A decoded detection: its box (category included) and its score.</summary>
public readonly record struct Detection(DetectionBox Box, double Score);
