namespace MtkdRl.Gpu.Cuda;

/// <summary>
/// The kernels of kernels/selftest.cu: they check the machinery under the distillation kernels (block
/// reductions, shared memory, shuffles, atomics, and that a .cu kernel works on ILGPU's memory).
/// </summary>
internal static class SelftestKernels
{
    /// <summary>(x, rows, cols, sums, maxes, total): one block per row; dynamic shared memory 4 * cols bytes.</summary>
    public static readonly KernelSignature RowReduce = KernelSignature.Parse("selftest", "mtkd_selftest_row_reduce", "piippp");

    /// <summary>(xor_out [5 * threads], idx_out [threads]): one block.</summary>
    public static readonly KernelSignature Shuffle = KernelSignature.Parse("selftest", "mtkd_selftest_shuffle", "pp");

    /// <summary>(out, n): dynamic shared memory 4 * n bytes.</summary>
    public static readonly KernelSignature SharedRoundtrip = KernelSignature.Parse("selftest", "mtkd_selftest_shared_roundtrip", "pi");

    /// <summary>Emulator only (not in the PTX): a barrier half the threads never reach.</summary>
    public static readonly KernelSignature DivergentBarrier = KernelSignature.Parse("selftest", "mtkd_selftest_divergent_barrier", "p");

    /// <summary>Emulator only: (arrived, seen [blocks], spins): how many blocks each block saw running.</summary>
    public static readonly KernelSignature BlockOverlap = KernelSignature.Parse("selftest", "mtkd_selftest_block_overlap", "ppi");

    /// <summary>The kernels the PTX holds.</summary>
    public static IReadOnlyList<KernelSignature> InPtx { get; } = [RowReduce, Shuffle, SharedRoundtrip];
}
