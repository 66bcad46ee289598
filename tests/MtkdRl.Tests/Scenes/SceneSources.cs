using MtkdRl.Data.Datasets;

namespace MtkdRl.Tests.Scenes;

/// <summary>
/// Small source datasets for the scenes generator. Each image is a square blob of rings around its centre (by
/// Chebyshev distance): the inner three rings at or above half of the image's maximum (clearly foreground), the
/// fourth between 0.15 and 0.5 of it (the faint band) and the outer ring below 0.15 (transparent). Train rows are
/// of classes 0 and 1 only, test rows of class 2 only, so a canvas shows which split its objects came from.
/// </summary>
public static class SceneSources
{
    public static readonly string[] Classes = ["a", "b", "c"];

    /// <summary>Ring values from the centre outwards, at full brightness.</summary>
    public static readonly byte[] Rings = [255, 220, 150, 60, 20];

    public const int Side = 10;

    public static ImageDataset Rings3(string source = "rings", int trainCount = 12, int testCount = 6, int channels = 1) =>
        new("rings", source,
            Split("rings/train", trainCount, channels, row => row % 2),
            Split("rings/test", testCount, channels, _ => 2));

    /// <summary>Row r: the ring pattern at brightness 1 - (r mod 4) / 10, which keeps each ring's band.</summary>
    public static LabeledImages Split(string name, int count, int channels, Func<int, int> label)
    {
        int plane = Side * Side;
        var pixels = new byte[count * channels * plane];
        for (int r = 0; r < count; r++)
        {
            double brightness = 1 - r % 4 / 10.0;
            for (int c = 0; c < channels; c++)
                for (int y = 0; y < Side; y++)
                    for (int x = 0; x < Side; x++)
                        pixels[(r * channels + c) * plane + y * Side + x] = (byte)Math.Round(Rings[Ring(y, x)] * brightness * (c == 0 ? 1 : 0.5));
        }
        return new LabeledImages(name, channels, Side, Side, pixels, [.. Enumerable.Range(0, count).Select(label)], Classes);
    }

    /// <summary>0 for the central 2x2 pixels, up to 4 for the border.</summary>
    public static int Ring(int y, int x) => Math.Max(Distance(y), Distance(x));

    private static int Distance(int i) => i < Side / 2 ? Side / 2 - 1 - i : i - Side / 2;
}
