using System.Globalization;
using MtkdRl.Core;
using MtkdRl.Data.Batching;

namespace MtkdRl.Onnx;

/// <summary>
/// What an ONNX teacher is fed, per channel (pixel / 255 - mean) / std: given with --normalize or --scale 0-1, read
/// from the metadata of a model mtkd exported, or else the dataset's own normalisation (what mtkd's models see).
/// </summary>
public static class InputNormalization
{
    /// <summary>
    /// The normalisation for a model with <paramref name="metadata"/>; <paramref name="normalize"/> is "mean,std"
    /// (every channel) or Ch means then Ch stds, in units of pixel / 255; <paramref name="scale"/> must be "0-1".
    /// Returns it with a few words saying where it came from.
    /// </summary>
    public static (ChannelNormalization Normalization, string Source) Resolve(string? normalize, string? scale,
        IReadOnlyDictionary<string, string> metadata, int channels, Func<ChannelNormalization> datasetOwn)
    {
        if (normalize is not null && scale is not null) throw new MtkdInputException("give --normalize or --scale, not both");
        if (scale is not null)
        {
            if (scale.Trim() != "0-1") throw new MtkdInputException($"--scale '{scale}': the one scale known is 0-1 (pixel / 255)");
            return (ChannelNormalization.Unit(channels), "--scale 0-1: pixel / 255");
        }
        if (normalize is not null) return (Parse(normalize, channels), $"--normalize {normalize}");
        if (metadata.TryGetValue(OnnxExporter.MeanKey, out string? mean) && metadata.TryGetValue(OnnxExporter.StdKey, out string? std))
            return (Parse($"{mean},{std}", channels, "the model's metadata"), "the normalisation mtkd exported with the model");
        return (datasetOwn(), "the dataset's own (as mtkd's models are fed; --normalize or --scale to change)");
    }

    private static ChannelNormalization Parse(string text, int channels, string what = "--normalize")
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var values = new float[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!float.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]))
                throw new MtkdInputException($"{what} '{text}': '{parts[i]}' is not a number");
        if (values.Length == 2) return new ChannelNormalization(Enumerable.Repeat(values[0], channels).ToArray(), Enumerable.Repeat(values[1], channels).ToArray());
        if (values.Length == 2 * channels) return new ChannelNormalization(values[..channels], values[channels..]);
        throw new MtkdInputException($"{what} '{text}': expected mean,std or {channels} means then {channels} stds (pixel / 255 units)");
    }
}
