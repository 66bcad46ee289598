using MtkdRl.Core;
using MtkdRl.Core.Distill;

namespace MtkdRl.Backends;

/// <summary>
/// A shape `mtkd bench kernels` times: the op on B rows ("B,K,C,D"), or a dense step ("B,K,C,D/N"): B pixel rows of N
/// images whose D features per teacher are once per image, as the dense distillation step runs it (docs/DESIGN.md §6):
/// the op on the pixel rows without a feature term and the op on N feature rows without a logit term
/// (<see cref="DenseStepSessions"/>).
/// </summary>
public sealed record KernelShape(DistillShape Rows, int Images = 0)
{
    /// <summary>Whether this is a dense step (N images) rather than the op on B rows.</summary>
    public bool IsDenseStep => Images > 0;

    /// <summary>
    /// The pixel rows' session of a dense step: B rows, C classes, no features (or one per teacher on a backend
    /// without <see cref="IDistillBackend.SupportsFeaturelessTeachers"/>), as the dense step makes it.
    /// </summary>
    public DistillShape PixelSession(bool featureless) => DenseStepSessions.PixelShape(Rows.B, Rows.C, Rows.K, featureless);

    /// <summary>The images' session of a dense step: N rows, two placeholder logits, the D features per teacher.</summary>
    public DistillShape ImageSession => DenseStepSessions.ImageShape(Images, Rows.D);

    public override string ToString() => IsDenseStep ? $"{Rows}, {Images} images" : Rows.ToString();
}

/// <summary>Shapes of the fused op as the command line and the benchmarks write them: "B,K,C,D", one width for every teacher.</summary>
public static class BenchShapes
{
    /// <summary>
    /// The dense (segmentation) step: 16 images of 64x64 pixels as 65,536 rows, 4 teachers, 11 classes (10 and the
    /// background), 16 feature floats per teacher once per image: many short rows.
    /// </summary>
    public const string DenseKernelShape = "65536,4,11,16/16";

    /// <summary>The op alone at the dense step's rows, its 16 features per teacher on every row.</summary>
    public const string DenseRowsShape = "65536,4,11,16";

    /// <summary>`mtkd bench kernels`'s shapes when none is given.</summary>
    public static readonly IReadOnlyList<string> KernelDefaults =
        ["256,4,100,256", "256,16,100,256", "1024,8,1000,512", "256,64,100,128", DenseRowsShape, DenseKernelShape];

    /// <summary>`mtkd selfcheck`'s shapes when none is given.</summary>
    public static readonly IReadOnlyList<string> SelfCheckDefaults = ["4096,16,1000,512", "256,64,100,128"];

    public static DistillShape Parse(string text) => Parse(text, text);

    private static DistillShape Parse(string text, string given)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 4 || !parts.All(p => int.TryParse(p, out var v) && v > 0))
            throw new MtkdException($"--shape '{given}': expected B,K,C,D (four positive integers)");
        var v = parts.Select(int.Parse).ToArray();
        return new DistillShape(v[0], v[1], v[2], v[3]);
    }

    /// <summary>"B,K,C,D", or "B,K,C,D/N" for a dense step of N images (B a multiple of N).</summary>
    public static KernelShape ParseKernel(string text)
    {
        int slash = text.IndexOf('/');
        if (slash < 0) return new KernelShape(Parse(text));
        var rows = Parse(text[..slash], text);
        if (!int.TryParse(text[(slash + 1)..].Trim(), out int images) || images < 1 || rows.B % images != 0)
            throw new MtkdException($"--shape '{text}': expected B,K,C,D/N with N images, a positive divisor of B");
        return new KernelShape(rows, images);
    }

    /// <summary>The given shapes, or the defaults when none is given.</summary>
    public static IReadOnlyList<DistillShape> ParseAll(IEnumerable<string> texts, IReadOnlyList<string> defaults)
    {
        var given = texts.ToList();
        return (given.Count > 0 ? given : defaults).Select(Parse).ToList();
    }

    /// <summary>The given kernel shapes (dense steps allowed), or the defaults when none is given.</summary>
    public static IReadOnlyList<KernelShape> ParseAllKernel(IEnumerable<string> texts, IReadOnlyList<string> defaults)
    {
        var given = texts.ToList();
        return (given.Count > 0 ? given : defaults).Select(ParseKernel).ToList();
    }
}
