using MtkdRl.Core.Distill;
using MtkdRl.Gpu;
using MtkdRl.Gpu.Cuda;
using MtkdRl.Tests.Distill;
using MtkdRl.Tests.Support;
using Xunit.Abstractions;

namespace MtkdRl.Tests.Cuda;

/// <summary>What only a GPU can check: these report skipped on machines without one.</summary>
public class CudaGpuTests(ITestOutputHelper output)
{
    private static CudaBackend Gpu()
    {
        var probe = GpuRuntime.ProbeCuda();
        Skip.IfNot(probe.Available, $"no CUDA device: {probe.Detail}");
        return (CudaBackend)SharedBackends.GetOrSkip("cuda");
    }

    [SkippableFact]
    public void A_cu_kernel_reads_and_writes_ilgpu_buffers_in_ilgpus_context()
    {
        var backend = Gpu();
        output.WriteLine(CudaSelfCheck.IlgpuBuffers(backend.Target, backend.Runtime.Accelerator, TestSeeds.Next()));
    }

    [SkippableFact]
    public void The_self_check_passes()
    {
        var backend = Gpu();
        var results = CudaSelfCheck.Run(backend, TestSeeds.Next());
        foreach (var r in results) output.WriteLine($"{(r.Passed ? "ok  " : "FAIL")} {r.Name}: {r.Detail}");
        Assert.All(results, r => Assert.True(r.Passed, $"{r.Name}: {r.Detail}"));
    }

    [SkippableFact]
    public void The_benchmark_shape_agrees_with_the_reference()
    {
        // The shape of the bandwidth target, with fewer rows so the float64 reference stays quick.
        var backend = Gpu();
        int seed = TestSeeds.Next();
        var x = DistillInputFactory.Create(new DistillShape(256, 16, 1000, 512), seed);
        foreach (var r in DistillAgreement.Check(backend, x, DistillHyper.Default, $"cuda B=256 K=16 C=1000 D=512 seed {seed}"))
            if (r.RelativeError > r.Tolerance / 10) output.WriteLine($"{r.Output}: {r.RelativeError:E2}");
    }
}
