using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Gpu.Timing;

namespace MtkdRl.Gpu.Cuda;

/// <summary>
/// The cuda backend: kernels/distill.cu, compiled to PTX at build time and embedded, JIT-loaded through our
/// driver binding into ILGPU's CUDA context and launched on ILGPU's buffers and stream. exp/log are the
/// GPU's approximate instructions, hence <see cref="ApproximateMath"/>.
/// </summary>
public sealed class CudaBackend : IDistillBackend, ICopyBandwidthProbe
{
    private double? _copyGbps;

    private readonly GpuRuntime _runtime;
    private readonly CudaDriverTarget _target;

    public CudaBackend()
    {
        if (!PtxResources.Contains("distill"))
            throw new BackendUnavailableException("the cuda kernels' PTX is not embedded (the build did not compile kernels/)");
        _runtime = GpuRuntime.Create(GpuDevice.Cuda);
        try
        {
            _target = new CudaDriverTarget(_runtime);
            foreach (var kernel in DistillKernels.All.Concat(CatalogKernels.All)) _target.Prepare(kernel);
        }
        catch
        {
            _target?.Dispose();
            _runtime.Dispose();
            throw;
        }
    }

    /// <summary>Whether a GPU, its driver and the embedded PTX are all here; says which is missing otherwise.</summary>
    public static BackendAvailability Probe()
    {
        if (!PtxResources.Contains("distill"))
            return BackendAvailability.No("the cuda kernels' PTX is not embedded (the build did not compile kernels/)");
        var cuda = GpuRuntime.ProbeCuda();
        return cuda.Available
            ? BackendAvailability.Yes($"{cuda.Detail}; kernels/*.cu as PTX by {PtxResources.Producer("distill")}")
            : cuda;
    }

    public string Name => "cuda";
    public string Device => _target.Description;
    public bool ApproximateMath => true;

    /// <summary>The ILGPU runtime whose context, memory and stream the kernels share.</summary>
    public GpuRuntime Runtime => _runtime;

    internal CudaDriverTarget Target => _target;

    /// <summary>Which kernels take rows of at most 32 classes (<see cref="Cuda.RowKernels"/>); auto by default.</summary>
    public RowKernels RowKernels { get; init; } = RowKernels.Auto;

    public IDistillSession CreateSession(DistillShape shape) => new CudaDistillSession(_target, shape, Name, RowKernels);

    /// <summary>Every catalog loss (docs/DESIGN.md §7): kernels/distill_catalog.cu after the KL kernels.</summary>
    public bool Supports(DistillLoss loss) => true;

    /// <summary>A 1 GiB device-to-device copy timed with CUDA events (measured once per backend).</summary>
    public double MeasureCopyGbps() => _copyGbps ??= DeviceCopyBandwidth.MeasureGbps(_target, DeviceCopyBandwidth.GpuBytes);

    public void Dispose()
    {
        _target.Dispose();
        _runtime.Dispose();
    }
}
