using MtkdRl.Core;
using MtkdRl.Core.Distill;

namespace MtkdRl.Gpu.Cuda;

/// <summary>PLACEHOLDER: replaced by the cuda backend implementation.</summary>
public sealed class CudaBackend : IDistillBackend
{
    public CudaBackend() => throw new BackendUnavailableException("cuda backend not built yet");
    public static BackendAvailability Probe() => BackendAvailability.No("cuda backend not built yet");
    public string Name => "cuda";
    public string Device => "";
    public bool ApproximateMath => true;
    public IDistillSession CreateSession(DistillShape shape) => throw new NotSupportedException();
    public void Dispose() { }
}
