using System.Collections.Concurrent;
using MtkdRl.Core;
using MtkdRl.Core.Distill;

namespace MtkdRl.Native;

/// <summary>
/// The native CPU backend: the C++ kernels of native/ at one SIMD level, threaded over rows with OpenMP.
/// One backend owns one native context; its sessions share it (calls on one context are serialised).
/// </summary>
public sealed class NativeBackend : IDistillBackend
{
    private static readonly ConcurrentDictionary<NativeSimd, BackendAvailability> Probes = new();

    internal NativeContextHandle Context { get; }

    /// <summary>The SIMD level in use (never <see cref="NativeSimd.Auto"/>).</summary>
    public NativeSimd Simd { get; }

    /// <summary>Threads per call.</summary>
    public int Threads { get; }

    /// <param name="simd">Auto picks the widest level the CPU has; a forced level the CPU lacks throws.</param>
    /// <param name="threads">Threads per call; 0 or less means every core.</param>
    /// <param name="allowed">The CPU features the context may use: the others hidden, as on a CPU without them.</param>
    /// <exception cref="BackendUnavailableException">The library is missing or the CPU lacks the level.</exception>
    public NativeBackend(NativeSimd simd = NativeSimd.Auto, int threads = 0, NativeCpuFeatures allowed = NativeCpuFeatures.All)
    {
        Context = NativeContextHandle.Create(simd, threads, allowed);
        (Simd, Threads) = Context.Describe();
        Device = $"{NativeInfo.Describe(Simd)}, {Threads} thread{(Threads == 1 ? "" : "s")}";
        Gemm = NativeMethods.ContextGemmInfo(Context);
    }

    /// <summary>Which GEMM this backend's context runs, e.g. "OpenBLAS 0.3.21 (SkylakeX kernels)".</summary>
    public string Gemm { get; }

    /// <summary>
    /// Whether the level can run here: e.g. "AVX-512, 2 threads, OpenBLAS 0.3.21" (or "..., built-in AVX-512 GEMM"
    /// where OpenBLAS has no kernels as wide for this CPU), or why not.
    /// </summary>
    public static BackendAvailability Probe(NativeSimd simd) => Probes.GetOrAdd(simd, static level =>
    {
        try
        {
            using var backend = new NativeBackend(level);
            return BackendAvailability.Yes($"{backend.Device}, {NativeInfo.ShortGemm(backend.Gemm)}");
        }
        catch (MtkdException e)
        {
            return BackendAvailability.No(e.Message);
        }
    });

    public string Name => "native";

    /// <summary>Every catalog loss (docs/DESIGN.md §7).</summary>
    public bool Supports(DistillLoss loss) => true;

    public bool SupportsFeaturelessTeachers => true;
    public string Device { get; }
    public bool ApproximateMath => false;

    public IDistillSession CreateSession(DistillShape shape) => new NativeDistillSession(this, shape);

    public void Dispose() => Context.Dispose();
}
