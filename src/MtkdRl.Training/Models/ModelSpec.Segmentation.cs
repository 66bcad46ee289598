using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>
/// The segmentation families of the grammar:
/// <code>
///   unet:W1xW2...xWn    n >= 2 encoder stages (Conv3x3 - BatchNorm2d - ReLU, a MaxPool2x2 before each from the
///                       second on), then per skip, deepest first: bilinear Upsample2x - concat with the encoder
///                       stage of that resolution - Conv3x3 - BatchNorm2d - ReLU of that stage's width;
///                       a Conv1x1 gives C+1 logits per pixel at the input resolution
///   fcn:W1x...xWn       the same encoder, no decoder: the Conv1x1 logits at 1/2^(n-1) resolution are
///                       upsampled bilinearly (n-1 times 2x) to the input resolution
/// </code>
/// The per-image embedding is the bottleneck's (stage n's) channel means, width Wn. The input's height and
/// width must be multiples of 2^(n-1). Examples: <c>unet:8x16</c>, <c>unet:16x32x64</c>, <c>fcn:16x32</c>.
/// </summary>
public sealed partial record ModelSpec
{
    /// <summary>The spec describes a per-pixel network (unet, fcn) rather than a classifier.</summary>
    public bool IsSegmentation => Family is ModelFamily.Unet or ModelFamily.Fcn;

    /// <summary>Builds the per-pixel network for images of <paramref name="input"/> shape and <paramref name="classes"/> logits per pixel (background included).</summary>
    public SegmentationModel BuildSegmentation(SampleShape input, int classes, CpuCompute compute, Rng rng) =>
        SegmentationBuilder.Build(this, input, classes, compute, rng);

    private static ModelFamily? SegmentationFamily(string name) => name switch
    {
        "unet" => ModelFamily.Unet,
        "fcn" => ModelFamily.Fcn,
        _ => null,
    };

    private static void CheckSegmentationWidths(ModelFamily family, List<int> widths, Func<string, string> fail)
    {
        if (family == ModelFamily.Unet && widths.Count < 2) fail("unet needs at least two stages (an encoder stage and the bottleneck), e.g. unet:16x32");
        if ((family is ModelFamily.Unet or ModelFamily.Fcn) && widths.Count > 8) fail($"{widths.Count} stages is more than 8");
    }
}
