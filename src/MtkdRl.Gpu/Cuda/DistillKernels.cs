using MtkdRl.Core.Distill;

namespace MtkdRl.Gpu.Cuda;

/// <summary>
/// The launch side of kernels/distill.cu: kernel names and parameter lists, block size, and dynamic shared
/// memory. Mirrors kernels/distill_layout.h (the kernels check the shared-memory size they are given).
/// </summary>
internal static class DistillKernels
{
    /// <summary>MTKD_DISTILL_MAX_WARPS: at most 8 warps (256 threads) per block, the kernels' launch bound.</summary>
    public const int MaxWarps = 8;

    /// <summary>MTKD_DISTILL_SCRATCH_FLOATS: eight areas of one float per warp.</summary>
    public const int ScratchFloats = 8 * MaxWarps;

    public const int WarpSize = 32;

    // zs zt fs ft y feature_offsets stats | B K C F | t inv_t cos_eps
    public static readonly KernelSignature Stats = KernelSignature.Parse("distill", "mtkd_distill_stats", "ppppppp" + "iiii" + "fff");

    // zs zt fs ft y feature_offsets weights stats dzs dfs row_loss | B K C F | t inv_t a_ce a_kd beta inv_counted_rows
    public static readonly KernelSignature Gradient = KernelSignature.Parse("distill", "mtkd_distill_gradient", "ppppppppppp" + "iiii" + "ffffff");

    // as gradient (stats written instead of read) | t inv_t a_ce a_kd beta cos_eps inv_counted_rows
    public static readonly KernelSignature Fused = KernelSignature.Parse("distill", "mtkd_distill_fused", "ppppppppppp" + "iiii" + "fffffff");

    public static IReadOnlyList<KernelSignature> All { get; } = [Stats, Gradient, Fused];

    public static KernelSignature For(DistillPass pass) => pass switch
    {
        DistillPass.Stats => Stats,
        DistillPass.Gradient => Gradient,
        DistillPass.Fused => Fused,
        _ => throw new ArgumentOutOfRangeException(nameof(pass)),
    };

    /// <summary>C rounded up to a multiple of 4, so every shared row is 16-byte aligned.</summary>
    public static int PaddedClasses(int c) => (c + 3) & ~3;

    /// <summary>
    /// Shared rows of Cp floats: the student row and its exponentials (stats, fused), one teacher stage per
    /// warp (stats, fused) and one accumulator per warp (gradient, fused).
    /// </summary>
    public static int SharedRows(DistillPass pass, int warps) => pass switch
    {
        DistillPass.Stats => 2 + warps,
        DistillPass.Gradient => warps,
        DistillPass.Fused => 3 + warps,
        _ => throw new ArgumentOutOfRangeException(nameof(pass)),
    };

    public static long SharedBytes(DistillPass pass, int c, int warps) =>
        4L * (ScratchFloats + (long)PaddedClasses(c) * SharedRows(pass, warps));

    /// <summary>
    /// Warps per block: teachers spread evenly (K = 9 gives 5 warps doing 2 and 1 teacher rather than 8
    /// warps of which one does two), never more than K, then fewer while the pass's shared memory does not
    /// fit. 0 when even one warp does not fit.
    /// </summary>
    public static int Warps(DistillPass pass, int k, int c, long maxSharedBytes)
    {
        int rounds = (k + MaxWarps - 1) / MaxWarps;
        int warps = (k + rounds - 1) / rounds;
        while (warps > 0 && SharedBytes(pass, c, warps) > maxSharedBytes) warps--;
        return warps;
    }

    /// <summary>The largest C every pass can run with (the fused pass with one warp is the tightest).</summary>
    public static int MaxClasses(long maxSharedBytes)
    {
        long rows = SharedRows(DistillPass.Fused, 1);
        long padded = (maxSharedBytes / 4 - ScratchFloats) / rows;
        return (int)Math.Clamp(padded & ~3L, 0, int.MaxValue);
    }

    /// <summary>One pass's launch: a block per row.</summary>
    public readonly record struct Plan(KernelSignature Kernel, int Blocks, int Warps, int SharedBytes)
    {
        public int Threads => Warps * WarpSize;
    }

    public static Plan PlanFor(DistillPass pass, DistillShape shape, long maxSharedBytes)
    {
        int warps = Warps(pass, shape.K, shape.C, maxSharedBytes);
        if (warps == 0)
            throw new InvalidOperationException($"no launch of {For(pass).Name} fits C={shape.C} in {maxSharedBytes} bytes of shared memory");
        return new Plan(For(pass), shape.B, warps, (int)SharedBytes(pass, shape.C, warps));
    }
}
