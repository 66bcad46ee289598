using System.Globalization;
using System.Text;
using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>Network families a spec can name.</summary>
public enum ModelFamily { Linear, Mlp, Cnn, Det, Unet, Fcn }

/// <summary>
/// A network architecture as a short string, so the command line can name it. Grammar:
/// <code>
///   spec    = family [":" widths] {"," option}
///   widths  = N {"x" N}                       positive integers, at most 65536
///   linear                                    logits = W x + b on the flattened input
///   mlp:W1xW2...                              per width: Linear - [BatchNorm1d] - ReLU; then the classifier
///       options  bn        BatchNorm1d after each hidden Linear
///                drop P    dropout with probability P before the classifier, written drop0.2
///   cnn:C1xC2...                              per width: Conv3x3(pad 1) - BatchNorm2d - ReLU - MaxPool2x2
///                                             (the pool is left out once the image is 1 pixel high or wide);
///                                             then Flatten - Linear(fc) - ReLU - the classifier
///       options  fcN       width of the dense hidden layer (default 128; fc0: none, the pooled features
///                          feed the classifier directly)
///                gap       global average pooling instead of Flatten
///                nobn      no BatchNorm (the convolutions get biases instead)
///                cN        N Conv3x3 - BatchNorm2d - ReLU blocks per stage before its pool (default 1, at most 4;
///                          blocks after the first are named conv{n}b, bn{n}b, conv{n}c, ...)
///                drop P    dropout before the classifier
///   det:C1xC2...                              a one-stage detector (Detector, docs/DETECTION.md): per width
///                                             Conv3x3 - BatchNorm2d - ReLU, MaxPool2x2 between stages until
///                                             the output stride is reached; then a class and a box head
///       options  sN        output stride (default 2^(stages-1), at most that)
///                cN        N Conv3x3 - BatchNorm2d - ReLU blocks per stage (default 1, at most 4)
///                u         an encoder-decoder body: a MaxPool2x2 before every stage after the first (down to
///                          1/2^(stages-1)), then per stage above the output stride, deepest first, a U-Net
///                          decoder step (bilinear Upsample2x - concat with the encoder stage of that
///                          resolution - cN blocks of its width) back to the stride; needs sN below 2^(stages-1)
///                hN        N Conv3x3 - BatchNorm2d - ReLU blocks of the features' width before the class head's
///                          own convolution (default 0, at most 4; named cls_tower, cls_towerb, ...)
///                nobn      no BatchNorm
/// </code>
/// Examples: <c>linear</c>, <c>mlp:64</c>, <c>mlp:512x512</c>, <c>mlp:1024x512,bn,drop0.2</c>, <c>cnn:32x64</c>,
/// <c>cnn:16,fc64</c>, <c>cnn:32x64x128,gap,fc0</c>. Segmentation specs (unet, fcn; option cN) are described in
/// ModelSpec.Segmentation.cs and build a <see cref="SegmentationModel"/> with <see cref="BuildSegmentation"/>. The embedding (penultimate activations, for feature
/// distillation) is what feeds the classifier: the last hidden ReLU output (mlp; cnn with a dense layer),
/// the pooled or flattened features (cnn with fc0), or the flattened input itself (linear).
/// </summary>
public sealed partial record ModelSpec
{
    public const int MaxWidth = 65536;
    public const int DefaultDenseWidth = 128;

    public ModelFamily Family { get; init; }

    /// <summary>Hidden widths (mlp) or convolution channels per stage (cnn); empty for linear.</summary>
    public IReadOnlyList<int> Widths { get; init; } = [];

    /// <summary>BatchNorm after each hidden layer: off by default for mlp, on for cnn.</summary>
    public bool BatchNorm { get; init; }

    /// <summary>Dropout probability before the classifier (0: none).</summary>
    public double Dropout { get; init; }

    /// <summary>Width of a cnn's dense hidden layer (0: none).</summary>
    public int DenseWidth { get; init; }

    /// <summary>A cnn pools globally instead of flattening.</summary>
    public bool GlobalPool { get; init; }

    /// <summary>A detector's output stride (0: the default, 2^(stages-1)).</summary>
    public int OutputStride { get; init; }

    /// <summary>
    /// A detector's body is an encoder-decoder (option u): a pool before every stage after the first, then U-Net
    /// decoder steps back up to the output stride.
    /// </summary>
    public bool SkipDecoder { get; init; }

    /// <summary>Conv3x3 - BatchNorm2d - ReLU blocks before a detector's class head (option hN; 0 by default).</summary>
    public int HeadBlocks { get; init; }

    /// <summary>Conv3x3 - BatchNorm2d - ReLU blocks per stage of a cnn, det, unet or fcn spec (option cN; 1 by default).</summary>
    public int ConvsPerStage { get; init; } = 1;

    /// <summary>
    /// Parses a spec, or throws <see cref="MtkdInputException"/> with a one-line message that starts with
    /// "{role} spec '{text}': " (role says whose spec it is: "student", "teacher", "model").
    /// </summary>
    public static ModelSpec Parse(string text, string role = "model")
    {
        string Fail(string problem) => throw new MtkdInputException($"{role} spec '{text}': {problem}");
        string trimmed = text.Trim();
        if (trimmed.Length == 0) Fail("empty (expected linear, mlp:W[xW...] or cnn:C[xC...], e.g. mlp:512x512)");
        var items = trimmed.Split(',', StringSplitOptions.TrimEntries);
        string head = items[0];
        int colon = head.IndexOf(':');
        string familyName = (colon < 0 ? head : head[..colon]).ToLowerInvariant();
        string? widthText = colon < 0 ? null : head[(colon + 1)..];
        ModelFamily? parsed = familyName switch
        {
            "linear" => ModelFamily.Linear,
            "mlp" => ModelFamily.Mlp,
            "cnn" => ModelFamily.Cnn,
            "det" => ModelFamily.Det,
            _ => SegmentationFamily(familyName),
        };
        if (parsed is null) Fail($"unknown architecture '{familyName}' (known: linear, mlp, cnn, det, unet, fcn)");
        var family = parsed!.Value;

        var widths = new List<int>();
        if (family == ModelFamily.Linear)
        {
            if (widthText is not null) Fail("linear takes no widths");
        }
        else
        {
            string what = family == ModelFamily.Mlp ? "hidden width" : "channel count";
            string example = family switch { ModelFamily.Mlp => "mlp:512x512", ModelFamily.Cnn => "cnn:32x64", ModelFamily.Det => "det:16x32x64", _ => $"{familyName}:16x32" };
            if (string.IsNullOrWhiteSpace(widthText)) Fail($"{familyName} needs {what}s, e.g. {example}");
            foreach (string part in widthText!.Split('x'))
            {
                if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int w) || w <= 0)
                    Fail($"{what} '{part}' must be a positive integer");
                if (w > MaxWidth) Fail($"{what} {w} exceeds {MaxWidth}");
                widths.Add(w);
            }
            CheckSegmentationWidths(family, widths, Fail);
        }

        var spec = new ModelSpec
        {
            Family = family,
            Widths = widths,
            BatchNorm = family is ModelFamily.Cnn or ModelFamily.Det,
            DenseWidth = family == ModelFamily.Cnn ? DefaultDenseWidth : 0,
        };
        var seen = new HashSet<string>();
        foreach (string option in items.Skip(1))
        {
            string key = OptionKey(option);
            if (!seen.Add(key)) Fail($"option '{key}' given twice");
            spec = ApplyOption(spec, option, familyName, Fail);
        }
        if (family == ModelFamily.Det) DetectorSpecOptions.Check(spec, Fail);
        return spec;
    }

    private static string OptionKey(string option)
    {
        int digits = 0;
        while (digits < option.Length && char.IsLetter(option[digits])) digits++;
        return option[..digits].ToLowerInvariant();
    }

    private static ModelSpec ApplyOption(ModelSpec spec, string option, string familyName, Func<string, string> fail)
    {
        string lower = option.ToLowerInvariant();
        string known = spec.Family switch
        {
            ModelFamily.Mlp => "bn, drop<p>",
            ModelFamily.Cnn => "fc<n>, gap, nobn, c<n>, drop<p>",
            ModelFamily.Det => "s<n>, c<n>, u, h<n>, nobn",
            ModelFamily.Unet or ModelFamily.Fcn => "c<n>",
            _ => "none",
        };
        if (StageDepth.Allowed(spec) && StageDepth.Matches(lower)) return StageDepth.Apply(spec, option, lower, fail);
        if (spec.Family == ModelFamily.Det) return DetectorSpecOptions.Apply(spec, option, lower, known, fail);
        if (spec.Family != ModelFamily.Linear && lower.StartsWith("drop", StringComparison.Ordinal))
        {
            string value = lower[4..];
            if (!double.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double p) || !(p is >= 0 and < 1))
                fail($"dropout '{option}' needs a probability in [0, 1), e.g. drop0.2");
            return spec with { Dropout = p };
        }
        if (spec.Family == ModelFamily.Mlp && lower == "bn") return spec with { BatchNorm = true };
        if (spec.Family == ModelFamily.Cnn)
        {
            if (lower == "nobn") return spec with { BatchNorm = false };
            if (lower == "gap") return spec with { GlobalPool = true };
            if (lower.StartsWith("fc", StringComparison.Ordinal))
            {
                if (!int.TryParse(lower[2..], NumberStyles.None, CultureInfo.InvariantCulture, out int w) || w > MaxWidth)
                    fail($"dense width '{option}' must be fc followed by an integer in [0, {MaxWidth}], e.g. fc128");
                return spec with { DenseWidth = w };
            }
        }
        fail(option.Length == 0 ? "empty option (a stray comma?)" : $"unknown option '{option}' for {familyName} (known: {known})");
        return spec;
    }

    /// <summary>The canonical text: Parse(ToString()) equals this spec.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder(Family.ToString().ToLowerInvariant());
        if (Widths.Count > 0) sb.Append(':').Append(string.Join('x', Widths));
        if (Family == ModelFamily.Mlp && BatchNorm) sb.Append(",bn");
        if (Family == ModelFamily.Cnn)
        {
            if (DenseWidth != DefaultDenseWidth) sb.Append(",fc").Append(DenseWidth);
            if (GlobalPool) sb.Append(",gap");
            if (!BatchNorm) sb.Append(",nobn");
        }
        if (Family == ModelFamily.Det) DetectorSpecOptions.Append(this, sb);
        StageDepth.Append(this, sb);
        if (Dropout > 0) sb.Append(",drop").Append(Dropout.ToString(CultureInfo.InvariantCulture));
        return sb.ToString();
    }

    public bool Equals(ModelSpec? other) => other is not null && ToString() == other.ToString();

    public override int GetHashCode() => ToString().GetHashCode(StringComparison.Ordinal);

    /// <summary>Builds the network for samples of <paramref name="input"/> shape and <paramref name="classes"/> classes.</summary>
    public Model Build(SampleShape input, int classes, CpuCompute compute, Rng rng) =>
        ModelBuilder.Build(this, input, classes, compute, rng);

    /// <summary>Builds a det spec's detector for images of <paramref name="input"/> shape and <paramref name="classes"/> object classes.</summary>
    public Detector BuildDetector(SampleShape input, int classes, CpuCompute compute, Rng rng) =>
        DetectorBuilder.Build(this, input, classes, compute, rng);
}
