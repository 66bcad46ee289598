using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Gpu;
using MtkdRl.Gpu.Cuda;
using MtkdRl.Gpu.Ilgpu;
using MtkdRl.Native;

namespace MtkdRl.Backends;

/// <summary>One way to run the fused op: a name the CLI accepts, how to tell whether it works here, how to make it.</summary>
/// <param name="Name">CLI name, e.g. "native" or "native-avx2".</param>
/// <param name="Family">The backend family reported in benchmark records: reference, native, ilgpu or cuda.</param>
/// <param name="Summary">What it is, for `mtkd info`.</param>
/// <param name="Simulated">Runs GPU code on a CPU simulator: correct but slow, so tests give it small shapes.</param>
public sealed record BackendEntry(string Name, string Family, string Summary, bool Simulated,
    Func<BackendAvailability> Probe, Func<IDistillBackend> Create);

/// <summary>
/// Every backend this build knows, in the order `--backend all` runs them. The plain family names pick the
/// best variant here: "native" the widest SIMD the CPU has, "ilgpu" the CUDA accelerator when a GPU is
/// present and ILGPU's CPU simulator otherwise.
/// </summary>
public static class BackendCatalog
{
    public static IReadOnlyList<BackendEntry> All { get; } =
    [
        new("reference", "reference", "plain C#, float64 accumulation: the oracle", false,
            () => BackendAvailability.Yes("managed C#, always available"), () => new ReferenceBackend()),
        new("native", "native", "C++ (native/), widest SIMD this CPU has, threaded over rows", false,
            () => NativeBackend.Probe(NativeSimd.Auto), () => new NativeBackend(NativeSimd.Auto)),
        new("native-avx512", "native", "C++ kernels forced to AVX-512", false,
            () => NativeBackend.Probe(NativeSimd.Avx512), () => new NativeBackend(NativeSimd.Avx512)),
        new("native-avx2", "native", "C++ kernels forced to AVX2+FMA", false,
            () => NativeBackend.Probe(NativeSimd.Avx2), () => new NativeBackend(NativeSimd.Avx2)),
        new("native-scalar", "native", "C++ kernels without SIMD intrinsics", false,
            () => NativeBackend.Probe(NativeSimd.Scalar), () => new NativeBackend(NativeSimd.Scalar)),
        new("ilgpu", "ilgpu", "ILGPU kernels on CUDA when a GPU is present, else on ILGPU's CPU simulator",
            BestIlgpuDevice() == GpuDevice.Cpu,
            ProbeIlgpuBest, () => new IlgpuBackend(BestIlgpuDevice())),
        new("ilgpu-cuda", "ilgpu", "ILGPU kernels on the CUDA accelerator", false,
            () => IlgpuBackend.Probe(GpuDevice.Cuda), () => new IlgpuBackend(GpuDevice.Cuda)),
        new("ilgpu-cpu", "ilgpu", "ILGPU kernels on ILGPU's CPU accelerator (a GPU simulator; slow)", true,
            () => IlgpuBackend.Probe(GpuDevice.Cpu), () => new IlgpuBackend(GpuDevice.Cpu)),
        new("cuda", "cuda", "kernels/*.cu from embedded PTX through the CUDA driver API, in ILGPU's context and buffers", false,
            CudaBackend.Probe, () => new CudaBackend()),
        new("cuda-emu", "cuda", "kernels/*.cu compiled for the CPU with an emulated grid, blocks, warps and shared memory (tests the .cu code without a GPU; slow)", true,
            CudaEmulatorBackend.Probe, () => new CudaEmulatorBackend()),
    ];

    /// <summary>The backends `--backend all` means: one per family, the best variant of each.</summary>
    public static IReadOnlyList<string> Families { get; } = ["reference", "native", "ilgpu", "cuda"];

    public static IEnumerable<string> Names => All.Select(e => e.Name);

    public static BackendEntry Find(string name) =>
        All.FirstOrDefault(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new MtkdException($"unknown backend '{name}' (known: {string.Join(", ", Names)}, all)");

    /// <summary>
    /// The entries a name selects: one, or for "all" the best variant of each family, leaving out CPU simulators,
    /// which must be named (each left out is reported through <paramref name="skipped"/>).
    /// </summary>
    public static IReadOnlyList<BackendEntry> Select(string name, Action<string>? skipped = null)
    {
        if (!string.Equals(name, "all", StringComparison.OrdinalIgnoreCase)) return [Find(name)];
        var list = new List<BackendEntry>();
        foreach (var family in Families)
        {
            var entry = Find(family);
            if (entry.Simulated)
            {
                skipped?.Invoke($"{entry.Name}: skipped (no device here, only a CPU simulator: name {entry.Name}-cpu to time it)");
                continue;
            }
            list.Add(entry);
        }
        return list;
    }

    /// <summary>
    /// Creates a backend or throws <see cref="BackendUnavailableException"/> with the reason. A positive
    /// <paramref name="threads"/> bounds the native backend's thread team (the others ignore it).
    /// </summary>
    public static IDistillBackend Create(string name, int threads = 0)
    {
        var entry = Find(name);
        var probe = entry.Probe();
        if (!probe.Available) throw new BackendUnavailableException($"backend '{entry.Name}' is unavailable: {probe.Detail}");
        return WithThreads(entry.Create(), threads);
    }

    /// <summary>
    /// The backend with the native op's team bounded to <paramref name="threads"/> when that is positive: a team on
    /// every core waits on cores the student (or a neighbour) holds, twice per batch for strategies that need the
    /// stats pass before the gradient pass. Other backends, and a native one already of that size, come back as given.
    /// </summary>
    public static IDistillBackend WithThreads(IDistillBackend backend, int threads)
    {
        if (threads <= 0 || backend is not NativeBackend native || native.Threads == threads) return backend;
        var simd = native.Simd;
        backend.Dispose();
        return new NativeBackend(simd, threads);
    }

    private static GpuDevice BestIlgpuDevice() =>
        IlgpuBackend.Probe(GpuDevice.Cuda).Available ? GpuDevice.Cuda : GpuDevice.Cpu;

    private static BackendAvailability ProbeIlgpuBest()
    {
        var cuda = IlgpuBackend.Probe(GpuDevice.Cuda);
        if (cuda.Available) return cuda;
        var cpu = IlgpuBackend.Probe(GpuDevice.Cpu);
        return cpu.Available ? cpu with { Detail = $"{cpu.Detail}; CUDA not used: {cuda.Detail}" } : cpu;
    }
}
