using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>
/// The shape of one sample, channels-first: an image is Channels x Height x Width, a vector of width D is
/// D x 1 x 1. A batch of B samples is stored row-major as [B, Channels, Height, Width], so flattening never
/// moves data.
/// </summary>
public readonly record struct SampleShape
{
    public SampleShape(int channels, int height, int width)
    {
        if (channels <= 0 || height <= 0 || width <= 0)
            throw new MtkdInputException($"sample shape {channels}x{height}x{width}: every size must be positive");
        if ((long)channels * height * width > int.MaxValue)
            throw new MtkdInputException($"sample shape {channels}x{height}x{width}: more than {int.MaxValue} values per sample");
        Channels = channels;
        Height = height;
        Width = width;
    }

    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }

    /// <summary>Values per sample.</summary>
    public int Size => Channels * Height * Width;

    /// <summary>Height * Width: values per channel.</summary>
    public int Plane => Height * Width;

    public bool IsVector => Height == 1 && Width == 1;

    public static SampleShape Vector(int width) => new(width, 1, 1);

    public static SampleShape Image(int channels, int height, int width) => new(channels, height, width);

    /// <summary>Parses "D" or "ChxHxW" (e.g. "784", "1x28x28").</summary>
    public static SampleShape Parse(string text)
    {
        var parts = text.Split('x', StringSplitOptions.TrimEntries);
        if (parts.Length is not (1 or 3) || !parts.All(p => int.TryParse(p, out int v) && v > 0))
            throw new MtkdInputException($"sample shape '{text}': expected D or ChxHxW with positive integers (e.g. 784 or 1x28x28)");
        var v = parts.Select(int.Parse).ToArray();
        return v.Length == 1 ? Vector(v[0]) : new SampleShape(v[0], v[1], v[2]);
    }

    public override string ToString() => IsVector ? $"{Channels}" : $"{Channels}x{Height}x{Width}";
}
