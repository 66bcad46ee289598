namespace MtkdRl.Gpu.Cuda;

/// <summary>
/// How the emulator runs kernels/*.cu. The default (blocks one after another, exact exp/log) checks indexing and
/// reductions; the other modes show what it hides: races between blocks, with <see cref="ConcurrentBlocks"/> > 1
/// (each block its own threads and shared memory), and the accuracy of the GPU's ex2.approx/lg2.approx, with
/// <see cref="ApproximateMath"/> (about 2 ulp, an absolute error near 1 for log2, denormals flushed to zero).
/// </summary>
public sealed record CudaEmulatorMode(int ConcurrentBlocks = 1, bool ApproximateMath = false)
{
    public static CudaEmulatorMode Default { get; } = new();

    public override string ToString() =>
        (ConcurrentBlocks <= 1 ? "blocks in turn" : $"{ConcurrentBlocks} blocks at once") +
        (ApproximateMath ? ", GPU-precision exp2/log2" : "");
}
