using MtkdRl.Core;
using MtkdRl.Core.Distill;

namespace MtkdRl.Native;

/// <summary>SIMD level of the native CPU kernels (mirrors mtkd_simd in native/include/mtkd.h).</summary>
public enum NativeSimd { Auto = 0, Scalar = 1, Avx2 = 2, Avx512 = 3 }

/// <summary>PLACEHOLDER: replaced by the native backend implementation.</summary>
public sealed class NativeBackend : IDistillBackend
{
    public NativeBackend(NativeSimd simd = NativeSimd.Auto, int threads = 0) =>
        throw new BackendUnavailableException("native backend not built yet");

    public static BackendAvailability Probe(NativeSimd simd) => BackendAvailability.No("native backend not built yet");

    public string Name => "native";
    public string Device => "";
    public bool ApproximateMath => false;
    public IDistillSession CreateSession(DistillShape shape) => throw new NotSupportedException();
    public void Dispose() { }
}
