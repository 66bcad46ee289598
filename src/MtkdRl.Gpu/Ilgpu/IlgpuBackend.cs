using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Gpu.Cuda;
using MtkdRl.Gpu.Timing;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>
/// The fused distillation op as ILGPU kernels (see <see cref="StatsKernel"/>, <see cref="GradientKernel"/>,
/// <see cref="FusedKernel"/>), on the CUDA accelerator or on ILGPU's CPU simulator. Owns the ILGPU context,
/// the accelerator and the compiled kernels, which every session shares.
/// </summary>
public sealed class IlgpuBackend : IDistillBackend, ICopyBandwidthProbe
{
    private double? _copyGbps;

    public IlgpuBackend(GpuDevice device) : this(device, sharedRowBudgetBytes: null) { }

    /// <param name="sharedRowBudgetBytes">Shared memory a group may use for class rows; smaller values force the
    /// global-memory variant (the one very large C uses), so it can be tested at small C.</param>
    public IlgpuBackend(GpuDevice device, int? sharedRowBudgetBytes)
    {
        Runtime = GpuRuntime.Create(device);
        try
        {
            Kernels = new DistillKernels(Runtime.Accelerator, sharedRowBudgetBytes);
        }
        catch
        {
            Runtime.Dispose();
            throw;
        }
    }

    public static BackendAvailability Probe(GpuDevice device) => GpuRuntime.Probe(device);

    public GpuRuntime Runtime { get; }

    public DistillKernels Kernels { get; }

    public string Name => "ilgpu";

    public string Device => Runtime.Describe();

    /// <summary>On CUDA, XMath's exp2/log2 become ex2.approx/lg2.approx; the CPU simulator uses exact MathF.</summary>
    public bool ApproximateMath => Runtime.IsCuda;

    /// <summary>Every catalog loss (docs/DESIGN.md §7).</summary>
    public bool Supports(DistillLoss loss) => true;

    public IlgpuDistillSession CreateSession(DistillShape shape) => new(Runtime.Accelerator, Kernels, shape);

    IDistillSession IDistillBackend.CreateSession(DistillShape shape) => CreateSession(shape);

    /// <summary>
    /// On CUDA a 1 GiB device-to-device copy timed with CUDA events (the cuda backend's probe, in this context);
    /// on the CPU simulator the host's copy bandwidth.
    /// </summary>
    public double MeasureCopyGbps()
    {
        if (_copyGbps is { } known) return known;
        if (!Runtime.IsCuda) return (_copyGbps = HostCopyBandwidth.MeasureGbps()).Value;
        using var target = new CudaDriverTarget(Runtime);
        return (_copyGbps = DeviceCopyBandwidth.MeasureGbps(target, DeviceCopyBandwidth.GpuBytes)).Value;
    }

    public void Dispose() => Runtime.Dispose();
}
