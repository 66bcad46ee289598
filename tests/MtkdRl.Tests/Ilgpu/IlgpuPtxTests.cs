using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using MtkdRl.Gpu.Ilgpu;

namespace MtkdRl.Tests.Ilgpu;

/// <summary>
/// The CUDA side of the kernels, checked without a GPU: ILGPU's PTX backend compiles every kernel, and the
/// PTX shows the properties the design relies on (launch bounds, hardware exp2/log2, warp shuffles instead of global atomics,
/// shared-memory atomics for the accumulator, nothing spilled to local memory by the compiler's IR).
/// </summary>
public class IlgpuPtxTests
{
    public static TheoryData<string> Kernels() => new(KernelTable.Keys);

    private static readonly Dictionary<string, Action<DistillKernelArgs>> KernelTable = new()
    {
        ["stats-shared"] = StatsKernel.Run<SharedRowScratch>,
        ["stats-global"] = StatsKernel.Run<GlobalRowScratch>,
        ["gradient-shared"] = GradientKernel.Run<SharedRowScratch>,
        ["gradient-global"] = GradientKernel.Run<GlobalRowScratch>,
        ["fused-shared"] = FusedKernel.Run<SharedRowScratch>,
        ["fused-global"] = FusedKernel.Run<GlobalRowScratch>,
    };

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Kernel_compiles_to_ptx_with_hardware_math_and_warp_reductions(string name)
    {
        using var context = Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O1));
        using var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_80), CudaArchitecture.SM_80,
            CudaInstructionSet.ISA_70, nvvmAPI: null);
        var entry = EntryPointDescription.FromExplicitlyGroupedKernel(KernelTable[name].Method);
        var ptx = ((PTXCompiledKernel)backend.Compile(entry, DistillKernels.CudaLaunchBounds)).PTXAssembly;

        Assert.Contains(".maxntid 256, 1, 1", ptx);
        Assert.Contains(".minnctapersm 4", ptx);
        Assert.Contains("ex2.approx.f32", ptx);
        Assert.Contains("bar.sync", ptx);
        Assert.DoesNotContain(".local", ptx);
        bool shared = name.EndsWith("-shared", StringComparison.Ordinal);
        if (shared) Assert.Contains("__dyn_shared_alloca", ptx);
        if (name.StartsWith("gradient", StringComparison.Ordinal))
        {
            Assert.Contains(shared ? "red.add.shared.f32" : "red.add.f32", ptx);
            return;
        }
        Assert.Contains("lg2.approx.f32", ptx);
        Assert.Contains("shfl.sync.bfly.b32", ptx);
        if (name.StartsWith("fused", StringComparison.Ordinal))
            Assert.Contains(shared ? "red.add.shared.f32" : "red.add.f32", ptx);
    }
}
