using System.Globalization;
using System.Text;

namespace MtkdRl.Training;

/// <summary>The options of a det spec (<see cref="ModelSpec"/>): sN, the output stride; u, the encoder-decoder body; hN, blocks before the class head; nobn.</summary>
internal static class DetectorSpecOptions
{
    public const int MaxHeadBlocks = 4;

    public static ModelSpec Apply(ModelSpec spec, string option, string lower, string known, Func<string, string> fail)
    {
        if (lower == "nobn") return spec with { BatchNorm = false };
        if (lower == "u") return spec with { SkipDecoder = true };
        if (lower.StartsWith('h') && lower.Length > 1)
        {
            if (!int.TryParse(lower[1..], NumberStyles.None, CultureInfo.InvariantCulture, out int h) || h > MaxHeadBlocks)
                fail($"class-head blocks '{option}' must be h followed by 0 to {MaxHeadBlocks}, e.g. h1");
            return spec with { HeadBlocks = h };
        }
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
        if (spec.SkipDecoder) sb.Append(",u");
        if (spec.HeadBlocks > 0) sb.Append(",h").Append(spec.HeadBlocks);
        if (!spec.BatchNorm) sb.Append(",nobn");
    }

    /// <summary>The checks that need every option: u decodes to a stride above the bottleneck's.</summary>
    public static void Check(ModelSpec spec, Func<string, string> fail)
    {
        if (spec.SkipDecoder && Stride(spec) >= DefaultStride(spec))
            fail($"u decodes back to the output stride, which must then be below the bottleneck's {DefaultStride(spec)} (2^(stages-1)): add sN, e.g. s{Math.Max(1, DefaultStride(spec) / 2)}");
    }

    /// <summary>2^(stages-1): a pool between every two stages.</summary>
    public static int DefaultStride(ModelSpec spec) => 1 << Math.Max(0, spec.Widths.Count - 1);

    public static int Stride(ModelSpec spec) => spec.OutputStride > 0 ? spec.OutputStride : DefaultStride(spec);
}
