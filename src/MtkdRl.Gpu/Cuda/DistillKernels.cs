using MtkdRl.Core;
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

    // The short-row kernels of kernels/distill_short_rows.cuh: the same parameters, another geometry.
    public static readonly KernelSignature StatsShort = Stats with { Name = "mtkd_distill_stats_short" };
    public static readonly KernelSignature GradientShort = Gradient with { Name = "mtkd_distill_gradient_short" };
    public static readonly KernelSignature FusedShort = Fused with { Name = "mtkd_distill_fused_short" };

    public static IReadOnlyList<KernelSignature> All { get; } = [Stats, Gradient, Fused, StatsShort, GradientShort, FusedShort];

    public static KernelSignature For(DistillPass pass) => pass switch
    {
        DistillPass.Stats => Stats,
        DistillPass.Gradient => Gradient,
        DistillPass.Fused => Fused,
        _ => throw new ArgumentOutOfRangeException(nameof(pass)),
    };

    public static KernelSignature ShortFor(DistillPass pass) => pass switch
    {
        DistillPass.Stats => StatsShort,
        DistillPass.Gradient => GradientShort,
        DistillPass.Fused => FusedShort,
        _ => throw new ArgumentOutOfRangeException(nameof(pass)),
    };

    /// <summary>MTKD_SHORT_ROW_MAX_CLASSES: the longest row the short-row kernels take.</summary>
    public const int ShortRowMaxClasses = 32;

    /// <summary>
    /// Rows from which <see cref="RowKernels.Auto"/> takes the short-row kernels (when C &lt;= 32): below it a
    /// block per row spreads a small batch over more multiprocessors (docs/PERF.md, section GPU, has the measurements).
    /// </summary>
    public const int ShortRowMinRows = 2048;

    /// <summary>Lanes per row of the short-row kernels: the smallest power of two &gt;= C/2, at least 4 (short_row_width).</summary>
    public static int ShortRowWidth(int c)
    {
        int g = 4;
        while (2 * g < c) g <<= 1;
        return g;
    }

    /// <summary>Shared rows of Cp floats per row group of the short-row kernels (distill_layout.h).</summary>
    public static int ShortSharedRows(DistillPass pass) => pass switch
    {
        DistillPass.Stats => 3,
        DistillPass.Gradient => 1,
        DistillPass.Fused => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(pass)),
    };

    /// <summary>
    /// Whether a shape runs on the short-row kernels: never for rows longer than 32 classes; otherwise as asked, and
    /// with <see cref="RowKernels.Auto"/> as MTKD_CUDA_ROWS says (block, short or auto), else from
    /// <see cref="ShortRowMinRows"/> rows on.
    /// </summary>
    public static bool UsesShortRows(DistillShape shape, RowKernels rows)
    {
        if (shape.C > ShortRowMaxClasses) return false;
        if (rows == RowKernels.Auto) rows = RowKernelsFromEnvironment();
        return rows switch
        {
            RowKernels.Short => true,
            RowKernels.Block => false,
            _ => shape.B >= ShortRowMinRows,
        };
    }

    /// <summary>MTKD_CUDA_ROWS, for comparing the two geometries on one shape (bench kernels); unset means auto.</summary>
    public static RowKernels RowKernelsFromEnvironment()
    {
        var value = Environment.GetEnvironmentVariable("MTKD_CUDA_ROWS");
        if (string.IsNullOrEmpty(value)) return RowKernels.Auto;
        return Enum.TryParse<RowKernels>(value, ignoreCase: true, out var rows) && Enum.IsDefined(rows)
            ? rows
            : throw new MtkdInputException($"MTKD_CUDA_ROWS='{value}' is not one of block, short, auto");
    }

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

    /// <summary>One pass's launch: a block per row, or for short rows a group of lanes per row.</summary>
    public readonly record struct Plan(KernelSignature Kernel, int Blocks, int Warps, int SharedBytes)
    {
        public int Threads => Warps * WarpSize;
    }

    public static Plan PlanFor(DistillPass pass, DistillShape shape, long maxSharedBytes, RowKernels rows = RowKernels.Auto)
    {
        if (UsesShortRows(shape, rows))
        {
            int rowsPerBlock = MaxWarps * WarpSize / ShortRowWidth(shape.C);
            long bytes = 4L * rowsPerBlock * ShortSharedRows(pass) * PaddedClasses(shape.C);
            return new Plan(ShortFor(pass), (shape.B + rowsPerBlock - 1) / rowsPerBlock, MaxWarps, (int)bytes);
        }
        int warps = Warps(pass, shape.K, shape.C, maxSharedBytes);
        if (warps == 0)
            throw new InvalidOperationException($"no launch of {For(pass).Name} fits C={shape.C} in {maxSharedBytes} bytes of shared memory");
        return new Plan(For(pass), shape.B, warps, (int)SharedBytes(pass, shape.C, warps));
    }
}

/// <summary>Which geometry runs rows of at most 32 classes on the .cu kernels (kernels/distill_short_rows.cuh).</summary>
public enum RowKernels
{
    /// <summary>Short-row kernels for large batches, as <see cref="DistillKernels.UsesShortRows"/> says.</summary>
    Auto,

    /// <summary>Always a block per row.</summary>
    Block,

    /// <summary>A group of lanes per row whenever C &lt;= 32.</summary>
    Short,
}
