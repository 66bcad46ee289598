using MtkdRl.Core.Distill;
using MtkdRl.Gpu;
using MtkdRl.Gpu.Ilgpu;
using MtkdRl.Tests.Distill;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Ilgpu;

/// <summary>The ilgpu kernels on a real NVIDIA GPU, at shapes too large for the simulator. Skipped without one.</summary>
public class IlgpuCudaTests
{
    private static IlgpuBackend Cuda()
    {
        var probe = GpuRuntime.ProbeCuda();
        Skip.IfNot(probe.Available, $"no CUDA device: {probe.Detail}");
        return (IlgpuBackend)SharedBackends.GetOrSkip("ilgpu-cuda");
    }

    [SkippableFact]
    public void Runs_on_the_gpu_with_approximate_math()
    {
        var backend = Cuda();
        Assert.True(backend.ApproximateMath);
        Assert.Contains("CUDA", backend.Device);
        Assert.Equal(32, backend.Kernels.WarpSize);
        Assert.Equal(DistillKernels.MaxWarps, backend.Kernels.MaxWarpsPerGroup);
    }

    [SkippableTheory]
    [InlineData(256, 16, 1000, 512, 4f)]
    [InlineData(64, 3, 4093, 100, 1f)]
    [InlineData(16, 5, 9001, 64, 2f)]
    [InlineData(33, 1024, 10, 3, 4f)]
    public void Agrees_with_the_reference_at_training_shapes(int b, int k, int c, int d, float temperature)
    {
        var backend = Cuda();
        var shape = new DistillShape(b, k, c, d);
        int seed = TestSeeds.Next();
        var h = new DistillHyper(Temperature: temperature, ACe: 0.9f, AKd: 1.1f, Beta: 5f);
        DistillAgreement.Check(backend, DistillInputFactory.Create(shape, seed), h, $"ilgpu-cuda {shape} seed {seed}");
    }
}
