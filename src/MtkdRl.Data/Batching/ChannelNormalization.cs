using MtkdRl.Core;
using MtkdRl.Data.Datasets;

namespace MtkdRl.Data.Batching;

/// <summary>
/// Per-channel normalisation: a pixel byte v of channel c becomes (v / 255 - Mean[c]) / Std[c]. Computed once from
/// the training split and stored with every model, so that evaluation and distillation feed a network exactly
/// the inputs it was trained on.
/// </summary>
public sealed class ChannelNormalization
{
    /// <summary>Below this a channel is constant; dividing by its std would blow up, so it is only centred.</summary>
    public const double MinStd = 1e-6;

    private readonly float[] _mean;
    private readonly float[] _std;

    public ChannelNormalization(IReadOnlyList<float> mean, IReadOnlyList<float> std)
    {
        if (mean.Count == 0 || mean.Count != std.Count)
            throw new MtkdInputException($"normalisation needs one mean and one std per channel, got {mean.Count} and {std.Count}");
        for (int c = 0; c < mean.Count; c++)
        {
            if (!float.IsFinite(mean[c])) throw new MtkdInputException($"normalisation mean of channel {c} is {mean[c]}");
            if (!float.IsFinite(std[c]) || std[c] <= 0) throw new MtkdInputException($"normalisation std of channel {c} is {std[c]}, must be positive");
        }
        _mean = [.. mean];
        _std = [.. std];
    }

    public int Channels => _mean.Length;

    /// <summary>Per-channel mean of v / 255.</summary>
    public IReadOnlyList<float> Mean => _mean;

    /// <summary>Per-channel standard deviation of v / 255 (population, not sample).</summary>
    public IReadOnlyList<float> Std => _std;

    /// <summary>The identity map v / 255 (mean 0, std 1).</summary>
    public static ChannelNormalization Unit(int channels) => new(new float[channels], Enumerable.Repeat(1f, channels).ToArray());

    /// <summary>Exact mean and std per channel of a split, from a 256-bin histogram per channel.</summary>
    public static ChannelNormalization FromTrainingSplit(LabeledImages train)
    {
        int plane = train.Height * train.Width;
        var histogram = new long[train.Channels * 256];
        byte[] pixels = train.Pixels;
        for (int image = 0; image < train.Count; image++)
            for (int c = 0; c < train.Channels; c++)
            {
                ReadOnlySpan<byte> values = pixels.AsSpan((image * train.Channels + c) * plane, plane);
                Span<long> bins = histogram.AsSpan(c * 256, 256);
                foreach (byte v in values) bins[v]++;
            }

        var mean = new float[train.Channels];
        var std = new float[train.Channels];
        double n = (double)train.Count * plane;
        for (int c = 0; c < train.Channels; c++)
        {
            double sum = 0, sumSquares = 0;
            for (int v = 0; v < 256; v++)
            {
                double x = v / 255.0;
                sum += x * histogram[c * 256 + v];
                sumSquares += x * x * histogram[c * 256 + v];
            }
            double m = sum / n;
            double variance = Math.Max(0, sumSquares / n - m * m);
            mean[c] = (float)m;
            std[c] = (float)Math.Max(Math.Sqrt(variance), MinStd);
        }
        return new ChannelNormalization(mean, std);
    }

    /// <summary>The normalised value of pixel byte <paramref name="value"/> in channel <paramref name="channel"/>.</summary>
    public float Apply(int channel, byte value) => (value / 255f - _mean[channel]) / _std[channel];

    /// <summary>Apply for every channel and byte value, [Ch * 256]: the loader converts pixels by table lookup.</summary>
    public float[] LookupTable()
    {
        var table = new float[Channels * 256];
        for (int c = 0; c < Channels; c++)
            for (int v = 0; v < 256; v++)
                table[c * 256 + v] = Apply(c, (byte)v);
        return table;
    }

    public override string ToString() =>
        $"mean [{string.Join(", ", _mean.Select(m => m.ToString("G6")))}], std [{string.Join(", ", _std.Select(s => s.ToString("G6")))}]";
}
