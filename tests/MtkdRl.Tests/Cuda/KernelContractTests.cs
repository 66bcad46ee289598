using MtkdRl.Gpu.Cuda;

namespace MtkdRl.Tests.Cuda;

// A kernel whose launch contract is broken records the failing line and returns (a GPU trap would end the whole
// context); the host reports it as a one-line error when it waits for the launch, and the next correct launch on
// the same target runs normally. Shown through the emulator, which runs the same launcher code as a GPU. Each test
// has a target of its own: a contract failure belongs to the target it was launched on.
public class KernelContractTests
{
    private static readonly MtkdRl.Core.BackendAvailability Emulator = CudaEmulatorBackend.Probe();

    private static CudaEmulatorTarget Target()
    {
        Skip.IfNot(Emulator.Available, $"cuda-emu unavailable: {Emulator.Detail}");
        return new CudaEmulatorTarget();
    }

    private static void LaunchRowReduce(CudaEmulatorTarget target, IDeviceBuffer<float> x, IDeviceBuffer<float> sums,
        IDeviceBuffer<float> maxes, IDeviceBuffer<float> total, int rows, int cols, int sharedBytes)
    {
        using var a = new KernelArguments(SelftestKernels.RowReduce);
        a.Pointer(x.Pointer).Int(rows).Int(cols).Pointer(sums.Pointer).Pointer(maxes.Pointer).Pointer(total.Pointer);
        target.Launch(a, rows, 64, sharedBytes);
    }

    [SkippableFact]
    public void A_broken_contract_is_a_one_line_error_at_synchronize_and_the_next_launch_works()
    {
        using var target = Target();
        const int rows = 3, cols = 40;
        using var x = target.Allocate<float>(rows * cols);
        using var sums = target.Allocate<float>(rows);
        using var maxes = target.Allocate<float>(rows);
        using var total = target.Allocate<float>(1);
        var data = Enumerable.Range(0, rows * cols).Select(i => (float)(i % cols)).ToArray();
        x.Upload(data);
        total.Upload([0f]);
        sums.FillBytes(0xFF);

        // One float short of the row the kernel stages in shared memory.
        LaunchRowReduce(target, x, sums, maxes, total, rows, cols, 4 * cols - 4);
        var error = Assert.Throws<KernelContractException>(target.Synchronize);
        Assert.DoesNotContain('\n', error.Message);
        Assert.Matches(@"^selftest\.cu:\d+$", error.Where);
        Assert.Contains("mtkd_dynamic_smem_bytes()", error.Message);
        var unwritten = new float[rows];
        sums.Download(unwritten);
        Assert.All(unwritten, s => Assert.True(float.IsNaN(s), "the failed launch wrote its output"));

        // The flag was cleared and the target is usable.
        LaunchRowReduce(target, x, sums, maxes, total, rows, cols, 4 * cols);
        target.Synchronize();
        var got = new float[rows];
        sums.Download(got);
        float rowSum = Enumerable.Range(0, cols).Sum();
        Assert.All(got, s => Assert.Equal(rowSum, s));
    }

    [SkippableFact]
    public void A_distill_kernel_with_a_broken_contract_is_named_by_file_and_line()
    {
        using var target = Target();
        using var a = new KernelArguments(DistillKernels.Stats);
        using var zero = target.Allocate<float>(1);
        for (int i = 0; i < 7; i++) a.Pointer(zero.Pointer);
        a.Int(1).Int(1).Int(4).Int(1).Float(1f).Float(1f).Float(1e-8f);
        target.Launch(a, 1, 64, 0); // two warps for one teacher, and no shared memory
        var error = Assert.Throws<KernelContractException>(target.Synchronize);
        Assert.StartsWith("distill.cu:", error.Where);
        target.Synchronize(); // reported once
    }
}
