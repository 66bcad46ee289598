using MtkdRl.Core;
using MtkdRl.Core.Distill;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>PLACEHOLDER: replaced by the ILGPU backend implementation.</summary>
public sealed class IlgpuBackend : IDistillBackend
{
    public IlgpuBackend(GpuDevice device) => throw new BackendUnavailableException("ilgpu backend not built yet");
    public static BackendAvailability Probe(GpuDevice device) => BackendAvailability.No("ilgpu backend not built yet");
    public string Name => "ilgpu";
    public string Device => "";
    public bool ApproximateMath => false;
    public IDistillSession CreateSession(DistillShape shape) => throw new NotSupportedException();
    public void Dispose() { }
}
