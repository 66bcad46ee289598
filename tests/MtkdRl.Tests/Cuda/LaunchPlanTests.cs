using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Gpu.Cuda;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Cuda;

/// <summary>Launch geometry, shared-memory sizing and argument packing: the host side both cuda backends share.</summary>
public class LaunchPlanTests
{
    private const long Plenty = 1 << 30;

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 3)]
    [InlineData(8, 8)]
    [InlineData(9, 5)]
    [InlineData(16, 8)]
    [InlineData(17, 6)]
    [InlineData(130, 8)]
    [InlineData(1024, 8)]
    public void Warps_spread_teachers_evenly_and_never_exceed_K(int k, int warps)
    {
        foreach (var pass in new[] { DistillPass.Stats, DistillPass.Gradient, DistillPass.Fused })
            Assert.Equal(warps, DistillKernels.Warps(pass, k, 1000, Plenty));
    }

    [Fact]
    public void Warps_drop_until_the_shared_memory_fits()
    {
        const long max = 232448;
        // C = 6000: rows of 24000 bytes after 256 bytes of scratch leave room for 9 rows.
        Assert.Equal(7, DistillKernels.Warps(DistillPass.Stats, 8, 6000, max));
        Assert.Equal(8, DistillKernels.Warps(DistillPass.Gradient, 8, 6000, max));
        Assert.Equal(6, DistillKernels.Warps(DistillPass.Fused, 8, 6000, max));
        foreach (var pass in new[] { DistillPass.Stats, DistillPass.Gradient, DistillPass.Fused })
        {
            int w = DistillKernels.Warps(pass, 8, 6000, max);
            Assert.True(DistillKernels.SharedBytes(pass, 6000, w) <= max);
            Assert.True(w == 8 || DistillKernels.SharedBytes(pass, 6000, w + 1) > max);
        }
    }

    [Theory]
    [InlineData(49152)]
    [InlineData(101376)]
    [InlineData(166912)]
    [InlineData(232448)]
    public void MaxClasses_is_the_largest_C_every_pass_fits(long maxShared)
    {
        int c = DistillKernels.MaxClasses(maxShared);
        foreach (var pass in new[] { DistillPass.Stats, DistillPass.Gradient, DistillPass.Fused })
            Assert.True(DistillKernels.Warps(pass, 1, c, maxShared) == 1, $"{pass} at C={c}");
        Assert.Equal(0, DistillKernels.Warps(DistillPass.Fused, 1, c + 1, maxShared));
    }

    [Fact]
    public void Shared_memory_follows_the_kernels_layout()
    {
        // scratch (64 floats) + rows of C rounded up to 4 floats.
        Assert.Equal(4 * (64 + 1004 * (2 + 8)), DistillKernels.SharedBytes(DistillPass.Stats, 1001, 8));
        Assert.Equal(4 * (64 + 1004 * 8), DistillKernels.SharedBytes(DistillPass.Gradient, 1001, 8));
        Assert.Equal(4 * (64 + 1004 * (3 + 8)), DistillKernels.SharedBytes(DistillPass.Fused, 1001, 8));
        var plan = DistillKernels.PlanFor(DistillPass.Fused, new DistillShape(4096, 16, 1000, 512), 232448);
        Assert.Equal((4096, 8, 256), (plan.Blocks, plan.Warps, plan.Threads));
    }

    [Fact]
    public unsafe void Arguments_are_packed_as_cuLaunchKernel_reads_them()
    {
        var kernel = KernelSignature.Parse("m", "k", "pif");
        using var a = new KernelArguments(kernel);
        a.Pointer(unchecked((nint)0x1122334455667788)).Int(-7).Float(2.5f);
        a.EnsureComplete();
        Assert.Equal(3, a.Count);
        Assert.Equal(0x1122334455667788L, *(long*)a.Pointers[0]);
        Assert.Equal(-7, *(int*)a.Pointers[1]);
        Assert.Equal(2.5f, *(float*)a.Pointers[2]);
        Assert.Equal([8, 4, 4], new[] { a.Sizes[0], a.Sizes[1], a.Sizes[2] });
    }

    [Fact]
    public void Arguments_of_the_wrong_kind_or_number_are_refused()
    {
        var kernel = KernelSignature.Parse("m", "k", "pi");
        using var a = new KernelArguments(kernel);
        Assert.Throws<InvalidOperationException>(() => a.Int(1));
        a.Pointer(1);
        Assert.Throws<InvalidOperationException>(a.EnsureComplete);
        a.Int(2);
        Assert.Throws<InvalidOperationException>(() => a.Float(3));
    }

    [SkippableFact]
    public void A_session_refuses_more_classes_than_shared_memory_holds()
    {
        var backend = SharedBackends.GetOrSkip("cuda-emu");
        int max = DistillKernels.MaxClasses(232448);
        var e = Assert.Throws<MtkdInputException>(() => backend.CreateSession(new DistillShape(1, max + 1, [1])));
        Assert.Contains($"class count C={max + 1}", e.Message);
        Assert.Contains($"C <= {max}", e.Message);
    }
}
