using System.Globalization;
using System.Text;

namespace MtkdRl.Training;

/// <summary>The options of a det spec (<see cref="ModelSpec"/>): sN, the output stride, and nobn.</summary>
internal static class DetectorSpecOptions
{
    public static ModelSpec Apply(ModelSpec spec, string option, string lower, string known, Func<string, string> fail)
    {
        if (lower == "nobn") return spec with { BatchNorm = false };
        if (lower.StartsWith('s') && lower.Length > 1)
        {
            if (!int.TryParse(lower[1..], NumberStyles.None, CultureInfo.InvariantCulture, out int s) || s < 1 || (s & (s - 1)) != 0
                || s > 1 << Math.Max(0, spec.Widths.Count - 1))
                fail($"output stride '{option}' must be a power of two from 1 to {1 << Math.Max(0, spec.Widths.Count - 1)} (2^(stages-1)), e.g. s4");
            return spec with { OutputStride = s };
        }
        fail(option.Length == 0 ? "empty option (a stray comma?)" : $"unknown option '{option}' for det (known: {known})");
        return spec;
    }

    public static void Append(ModelSpec spec, StringBuilder sb)
    {
        if (spec.OutputStride > 0 && spec.OutputStride != DefaultStride(spec)) sb.Append(",s").Append(spec.OutputStride);
        if (!spec.BatchNorm) sb.Append(",nobn");
    }

    /// <summary>2^(stages-1): a pool between every two stages.</summary>
    public static int DefaultStride(ModelSpec spec) => 1 << Math.Max(0, spec.Widths.Count - 1);

    public static int Stride(ModelSpec spec) => spec.OutputStride > 0 ? spec.OutputStride : DefaultStride(spec);
}
