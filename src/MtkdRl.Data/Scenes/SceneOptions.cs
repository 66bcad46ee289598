using System.Globalization;
using MtkdRl.Core;

namespace MtkdRl.Data.Scenes;

/// <summary>How an object is resized to its scale.</summary>
public enum SceneInterpolation
{
    Bilinear,
    Nearest,
}

/// <summary>
/// Settings of the scenes generator: canvas side, objects per canvas, scale range (a factor of the source
/// image's side), canvases per split, seed, and the thresholds that decide each pixel's label (relative to the
/// object's own brightest pixel after resizing).
/// </summary>
public sealed record SceneOptions
{
    public int Canvas { get; init; } = 64;
    public int MinObjects { get; init; } = 1;
    public int MaxObjects { get; init; } = 4;
    public double MinScale { get; init; } = 0.6;
    public double MaxScale { get; init; } = 1.4;
    public int TrainCount { get; init; } = 6000;
    public int TestCount { get; init; } = 1000;
    public ulong Seed { get; init; } = 1;
    public SceneInterpolation Interpolation { get; init; } = SceneInterpolation.Bilinear;

    /// <summary>At or above this fraction of the object's maximum a pixel is clearly foreground (labelled with its class).</summary>
    public double HighThreshold { get; init; } = 0.5;

    /// <summary>At or above this fraction (and below the high one) a pixel is faint: painted, labelled 255 (ignore). Below it the object is transparent.</summary>
    public double LowThreshold { get; init; } = 0.15;

    /// <summary>An object keeps its label only with at least this many visible foreground pixels...</summary>
    public int MinVisiblePixels { get; init; } = 16;

    /// <summary>...and at least this fraction of its own foreground pixels visible after occlusion.</summary>
    public double MinVisibleFraction { get; init; } = 0.25;

    public const int MaxCanvas = 1024;
    public const int MaxObjectsLimit = 16;
    public const double MaxScaleLimit = 8;

    /// <summary>Throws a one-line error for settings that cannot make scenes from images of <paramref name="sourceHeight"/> x <paramref name="sourceWidth"/>.</summary>
    public void Check(int sourceHeight, int sourceWidth)
    {
        Check();
        int side = Math.Max(sourceHeight, sourceWidth);
        int largest = ScaledSide(side, MaxScale);
        if (largest > Canvas)
            throw new MtkdInputException(
                $"--canvas {Canvas} is smaller than the largest scaled object ({Format(MaxScale)} x {side} = {largest} pixels); use --canvas {largest} or more, or a smaller --scale");
    }

    /// <summary>The checks that need no source.</summary>
    public void Check()
    {
        if (Canvas is < 4 or > MaxCanvas) throw new MtkdInputException($"--canvas must be in 4..{MaxCanvas} (got {Canvas})");
        if (MinObjects < 1 || MaxObjects > MaxObjectsLimit || MinObjects > MaxObjects)
            throw new MtkdInputException($"--objects {MinObjects}-{MaxObjects}: expected A-B with 1 <= A <= B <= {MaxObjectsLimit}");
        if (!(MinScale > 0) || !(MaxScale <= MaxScaleLimit) || !(MinScale <= MaxScale))
            throw new MtkdInputException($"--scale {Format(MinScale)}-{Format(MaxScale)}: expected A-B with 0 < A <= B <= {Format(MaxScaleLimit)}");
        if (TrainCount < 1) throw new MtkdInputException($"--train must be at least 1 (got {TrainCount})");
        if (TestCount < 1) throw new MtkdInputException($"--test must be at least 1 (got {TestCount})");
        if (!(LowThreshold > 0 && LowThreshold <= HighThreshold && HighThreshold <= 1))
            throw new MtkdInputException($"thresholds {Format(LowThreshold)} and {Format(HighThreshold)}: expected 0 < low <= high <= 1");
    }

    /// <summary>A source side times a scale, rounded, at least one pixel.</summary>
    public static int ScaledSide(int side, double scale) => Math.Max(1, (int)Math.Round(side * scale, MidpointRounding.AwayFromZero));

    /// <summary>"A-B" or "A" as an integer range, or a one-line error naming the option.</summary>
    public static (int Min, int Max) ParseIntRange(string option, string text)
    {
        var (a, b) = SplitRange(option, text, "integers");
        if (!int.TryParse(a, NumberStyles.Integer, CultureInfo.InvariantCulture, out int min) ||
            !int.TryParse(b, NumberStyles.Integer, CultureInfo.InvariantCulture, out int max))
            throw new MtkdInputException($"{option} '{text}': expected A-B with integers A <= B (e.g. 1-4)");
        return (min, max);
    }

    /// <summary>"A-B" or "A" as a range of positive numbers, or a one-line error naming the option.</summary>
    public static (double Min, double Max) ParseDoubleRange(string option, string text)
    {
        var (a, b) = SplitRange(option, text, "numbers");
        if (!double.TryParse(a, NumberStyles.Float, CultureInfo.InvariantCulture, out double min) ||
            !double.TryParse(b, NumberStyles.Float, CultureInfo.InvariantCulture, out double max) ||
            !double.IsFinite(min) || !double.IsFinite(max))
            throw new MtkdInputException($"{option} '{text}': expected A-B with numbers A <= B (e.g. 0.6-1.4)");
        return (min, max);
    }

    private static (string A, string B) SplitRange(string option, string text, string what)
    {
        string[] parts = (text ?? "").Trim().Split('-');
        return parts.Length switch
        {
            1 => (parts[0], parts[0]),
            2 => (parts[0], parts[1]),
            _ => throw new MtkdInputException($"{option} '{text}': expected A-B with {what} A <= B"),
        };
    }

    internal static string Format(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);
}
