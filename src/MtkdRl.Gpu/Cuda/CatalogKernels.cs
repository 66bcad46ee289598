using MtkdRl.Core.Distill;

namespace MtkdRl.Gpu.Cuda;

/// <summary>
/// The launch side of kernels/distill_catalog.cu, the catalog losses other than kl + mse (docs/DESIGN.md §7): kernel
/// names and parameter lists, block size and dynamic shared memory. Mirrors the MTKD_CATALOG_* and
/// MTKD_*_ID numbers of kernels/distill_layout.h; the divergence and feature loss are passed as the catalog's ids.
/// </summary>
internal static class CatalogKernels
{
    // zs zt fs ft y feature_offsets stats | B K C F divergence feature | t inv_t div_alpha div_beta cos_eps
    public static readonly KernelSignature Stats = KernelSignature.Parse("distill_catalog", "mtkd_catalog_stats", "ppppppp" + "iiiiii" + "fffff");

    // zs zt fs ft y feature_offsets weights stats dzs dfs row_loss | B K C F divergence feature
    // | t inv_t a_ce a_kd beta div_alpha div_beta cos_eps inv_counted_rows
    public static readonly KernelSignature Gradient = KernelSignature.Parse("distill_catalog", "mtkd_catalog_gradient", "ppppppppppp" + "iiiiii" + "fffffffff");

    public static IReadOnlyList<KernelSignature> All { get; } = [Stats, Gradient];

    /// <summary>MTKD_CATALOG_ROWS: ps, d, pt and the gradient accumulator, Cp floats each.</summary>
    public const int SharedRows = 4;

    /// <summary>Warps per block: a teacher row is swept by the whole block, so C (not K) sets the useful width.</summary>
    public static int Warps(int c) => Math.Clamp((c + 8 * DistillKernels.WarpSize - 1) / (8 * DistillKernels.WarpSize), 1, 4);

    public static long SharedBytes(int c) => 4L * (DistillKernels.ScratchFloats + (long)DistillKernels.PaddedClasses(c) * SharedRows);

    public static DistillKernels.Plan PlanFor(KernelSignature kernel, DistillShape shape, long maxSharedBytes)
    {
        long bytes = SharedBytes(shape.C);
        if (bytes > maxSharedBytes)
            throw new InvalidOperationException($"no launch of {kernel.Name} fits C={shape.C} in {maxSharedBytes} bytes of shared memory");
        return new DistillKernels.Plan(kernel, shape.B, Warps(shape.C), (int)bytes);
    }
}
