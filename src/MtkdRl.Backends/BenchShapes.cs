using MtkdRl.Core;
using MtkdRl.Core.Distill;

namespace MtkdRl.Backends;

/// <summary>Shapes of the fused op as the command line and the benchmarks write them: "B,K,C,D", one width for every teacher.</summary>
public static class BenchShapes
{
    /// <summary>
    /// A dense (segmentation) shape: 16 images of 64x64 pixels as 65,536 rows, 4 teachers, 11 classes (10 and the
    /// background), 16 feature floats per teacher: many short rows.
    /// </summary>
    public const string DenseKernelShape = "65536,4,11,16";

    /// <summary>`mtkd bench kernels`'s shapes when none is given.</summary>
    public static readonly IReadOnlyList<string> KernelDefaults =
        ["256,4,100,256", "256,16,100,256", "1024,8,1000,512", "256,64,100,128", DenseKernelShape];

    /// <summary>`mtkd selfcheck`'s shapes when none is given.</summary>
    public static readonly IReadOnlyList<string> SelfCheckDefaults = ["4096,16,1000,512", "256,64,100,128"];

    public static DistillShape Parse(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 4 || !parts.All(p => int.TryParse(p, out var v) && v > 0))
            throw new MtkdException($"--shape '{text}': expected B,K,C,D (four positive integers)");
        var v = parts.Select(int.Parse).ToArray();
        return new DistillShape(v[0], v[1], v[2], v[3]);
    }

    /// <summary>The given shapes, or the defaults when none is given.</summary>
    public static IReadOnlyList<DistillShape> ParseAll(IEnumerable<string> texts, IReadOnlyList<string> defaults)
    {
        var given = texts.ToList();
        return (given.Count > 0 ? given : defaults).Select(Parse).ToList();
    }
}
