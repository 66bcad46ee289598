using MtkdRl.Core;
using MtkdRl.Data.Datasets;

namespace MtkdRl.Data.Batching;

/// <summary>The concrete augmentation of a training run: random-crop padding in pixels and horizontal flips.</summary>
public readonly record struct Augmentation(int CropPadding, bool HorizontalFlip)
{
    public static readonly Augmentation None = new(0, false);

    public override string ToString() => (CropPadding, HorizontalFlip) switch
    {
        (0, false) => "none",
        (0, true) => "flip",
        (_, false) => $"crop:{CropPadding}",
        _ => $"crop:{CropPadding}+flip",
    };
}

/// <summary>
/// How a recipe asks for augmentation, resolved against the dataset it trains on:
/// <list type="bullet">
/// <item><c>auto</c>: what suits the data: a horizontal flip where the dataset's classes are mirror-invariant
/// (<see cref="MirrorInvariance"/>), otherwise shifts of up to about a fourteenth of the image side (a random crop
/// with that padding: 2 pixels at 28x28 or 32x32, 1 at 8x8), which keep the class of digits, glyphs and anything
/// else;</item>
/// <item><c>none</c>; or an explicit <c>crop:N</c>, <c>flip</c>, <c>crop:N+flip</c> (the user's word, taken as is).</item>
/// </list>
/// </summary>
public static class AugmentationSpec
{
    public const string Auto = "auto";

    /// <summary>Padding of the random crop that <c>auto</c> uses where flips are not safe: side / 14, rounded, in 1..4.</summary>
    public static int AutoShift(int height, int width) => Math.Clamp((int)Math.Round(Math.Min(height, width) / 14.0), 1, 4);

    /// <summary>The spec's augmentation on <paramref name="data"/>; a malformed spec is a one-line error naming <paramref name="who"/>.</summary>
    public static Augmentation Resolve(string spec, ImageDataset data, string who)
    {
        string s = spec.Trim().ToLowerInvariant();
        if (s == Auto)
            return data.Mirror.Invariant ? new Augmentation(0, true) : new Augmentation(AutoShift(data.Height, data.Width), false);
        return Parse(s, who);
    }

    /// <summary>An explicit spec (not <c>auto</c>).</summary>
    public static Augmentation Parse(string spec, string who)
    {
        string s = spec.Trim().ToLowerInvariant();
        if (s == "none") return Augmentation.None;
        int crop = 0;
        bool flip = false;
        foreach (string part in s.Split('+', StringSplitOptions.TrimEntries))
        {
            if (part == "flip" && !flip) { flip = true; continue; }
            if (part.StartsWith("crop:", StringComparison.Ordinal) && crop == 0
                && int.TryParse(part.AsSpan(5), out crop) && crop is > 0 and <= 64) continue;
            throw new MtkdInputException(
                $"{who}: augmentation '{spec}' is not one of auto, none, flip, crop:N, crop:N+flip (N in 1..64)");
        }
        return new Augmentation(crop, flip);
    }

    /// <summary>Checks that this class reads the spec (auto or an explicit one), without resolving it; a one-line error otherwise.</summary>
    public static void Validate(string spec, string who)
    {
        if (spec.Trim().Equals(Auto, StringComparison.OrdinalIgnoreCase)) return;
        Parse(spec, who);
    }
}
