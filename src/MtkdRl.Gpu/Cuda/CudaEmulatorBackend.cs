using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Gpu.Timing;

namespace MtkdRl.Gpu.Cuda;

/// <summary>
/// kernels/distill.cu compiled as C++ and run by the CPU emulator (libmtkd_cuemu), through the same session
/// and launch code as the cuda backend. Exact float math, so the tight tolerances apply; slow, so tests give
/// it small shapes. It exists to test the .cu code and its launcher on machines without a GPU.
/// </summary>
public sealed class CudaEmulatorBackend : IDistillBackend, ICopyBandwidthProbe
{
    private double? _copyGbps;

    private readonly CudaEmulatorTarget _target;

    public CudaEmulatorBackend() : this(CudaEmulatorMode.Default) { }

    /// <param name="mode">Blocks at once and the precision of exp/log (see <see cref="CudaEmulatorMode"/>).</param>
    public CudaEmulatorBackend(CudaEmulatorMode mode)
    {
        _target = new CudaEmulatorTarget(mode);
        foreach (var kernel in DistillKernels.All.Concat(CatalogKernels.All)) _target.Prepare(kernel);
    }

    /// <summary>Whether libmtkd_cuemu is built and holds the kernels; says why not otherwise.</summary>
    public static BackendAvailability Probe() => CudaEmulatorTarget.Probe();

    public string Name => "cuda-emu";
    public string Device => _target.Description;
    public bool ApproximateMath => _target.Mode.ApproximateMath;

    internal CudaEmulatorTarget Target => _target;

    /// <summary>Which kernels take rows of at most 32 classes (<see cref="Cuda.RowKernels"/>); auto by default.</summary>
    public RowKernels RowKernels { get; init; } = RowKernels.Auto;

    public IDistillSession CreateSession(DistillShape shape) => new CudaDistillSession(_target, shape, Name, RowKernels);

    /// <summary>Every catalog loss (docs/DESIGN.md §7): kernels/distill_catalog.cu after the KL kernels.</summary>
    public bool Supports(DistillLoss loss) => true;

    /// <summary>Bytes of the copy <see cref="MeasureCopyGbps"/> times: the GPU backends' 1 GiB would only slow the emulator's benchmarks.</summary>
    public long CopyProbeBytes { get; init; } = 64L << 20;

    /// <summary>The GPU backends' copy probe, run on the emulator's memory (host RAM, one thread).</summary>
    public double MeasureCopyGbps() => _copyGbps ??= DeviceCopyBandwidth.MeasureGbps(_target, CopyProbeBytes);

    public void Dispose() => _target.Dispose();
}
