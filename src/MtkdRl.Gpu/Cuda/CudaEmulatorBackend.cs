using MtkdRl.Core;
using MtkdRl.Core.Distill;

namespace MtkdRl.Gpu.Cuda;

/// <summary>PLACEHOLDER: replaced by the CUDA-emulator backend implementation.</summary>
public sealed class CudaEmulatorBackend : IDistillBackend
{
    public CudaEmulatorBackend() => throw new BackendUnavailableException("cuda emulator not built yet");
    public static BackendAvailability Probe() => BackendAvailability.No("cuda emulator not built yet");
    public string Name => "cuda-emu";
    public string Device => "";
    public bool ApproximateMath => false;
    public IDistillSession CreateSession(DistillShape shape) => throw new NotSupportedException();
    public void Dispose() { }
}
