using BenchmarkDotNet.Attributes;
using MtkdRl.Backends;
using MtkdRl.Core.Distill;

namespace MtkdRl.Benchmarks;

/// <summary>
/// The three passes of the fused op through IDistillSession, per backend and shape. `mtkd bench kernels`
/// is the primary tool (bytes moved, GB/s, accuracy); this measures the same calls with BenchmarkDotNet's
/// statistics and allocation diagnoser, which proves the hot path allocates nothing.
/// </summary>
[MemoryDiagnoser]
public class DistillOpBenchmarks
{
    [Params("native", "native-avx2", "native-scalar")]
    public string Backend { get; set; } = "native";

    [Params("256,4,100,256", "1024,8,1000,512")]
    public string Shape { get; set; } = "256,4,100,256";

    private IDistillBackend _backend = null!;
    private IDistillSession _session = null!;
    private readonly DistillHyper _hyper = DistillHyper.Default;

    [GlobalSetup]
    public void Setup()
    {
        var shape = BenchShapes.Parse(Shape);
        _backend = BackendCatalog.Create(Backend);
        _session = _backend.CreateSession(shape);
        _session.Upload(KernelBenchmark.RandomInputs(shape, 1234));
        _session.Stats(_hyper);
    }

    [Benchmark] public void Stats() { _session.Stats(_hyper); _session.Synchronize(); }
    [Benchmark] public void Gradient() { _session.Gradient(_hyper); _session.Synchronize(); }
    [Benchmark] public void Fused() { _session.Fused(_hyper); _session.Synchronize(); }

    [GlobalCleanup]
    public void Cleanup()
    {
        _session.Dispose();
        _backend.Dispose();
    }
}
