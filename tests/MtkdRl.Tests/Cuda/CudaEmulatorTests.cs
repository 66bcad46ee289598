using System.Runtime.InteropServices;
using MtkdRl.Gpu;
using MtkdRl.Gpu.Cuda;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Cuda;

/// <summary>
/// The CPU emulator itself: its C ABI (status codes, last error, launch checks) and the CUDA semantics the
/// kernels rely on (barriers, shuffles, shared memory, atomics), through the self-test kernels.
/// </summary>
public unsafe class CudaEmulatorTests
{
    private static void RequireEmulator()
    {
        var probe = CudaEmulatorBackend.Probe();
        Skip.IfNot(probe.Available, $"cuda-emu unavailable: {probe.Detail}");
    }

    private static CudaEmulatorStatus Launch(KernelSignature kernel, KernelArguments a, uint blocks, uint threads, uint shared) =>
        CudaEmulatorNative.Launch(kernel.Name, blocks, 1, 1, threads, 1, 1, shared, a.Pointers, a.Sizes, a.Count);

    [SkippableFact]
    public void An_unknown_kernel_fails_with_a_status_and_the_reason()
    {
        RequireEmulator();
        var status = CudaEmulatorNative.Launch("mtkd_no_such_kernel", 1, 1, 1, 32, 1, 1, 0, null, null, 0);
        Assert.Equal(CudaEmulatorStatus.InvalidArgument, status);
        Assert.Equal("no kernel named 'mtkd_no_such_kernel' is registered", CudaEmulatorNative.LastError());
    }

    [SkippableFact]
    public void Argument_count_and_sizes_are_checked_against_the_kernel()
    {
        RequireEmulator();
        using var a = new KernelArguments(KernelSignature.Parse("selftest", SelftestKernels.Shuffle.Name, "pi"));
        a.Pointer(16).Int(3);
        Assert.Equal(CudaEmulatorStatus.InvalidArgument, Launch(SelftestKernels.Shuffle, a, 1, 32, 0));
        Assert.Equal("kernel 'mtkd_selftest_shuffle': parameter 1 is 8 bytes, the launch passed 4", CudaEmulatorNative.LastError());

        var status = CudaEmulatorNative.Launch(SelftestKernels.Shuffle.Name, 1, 1, 1, 32, 1, 1, 0, a.Pointers, a.Sizes, 1);
        Assert.Equal(CudaEmulatorStatus.InvalidArgument, status);
        Assert.Equal("kernel 'mtkd_selftest_shuffle' takes 2 parameters, the launch passed 1", CudaEmulatorNative.LastError());
    }

    [SkippableFact]
    public void Launch_geometry_outside_the_device_limits_is_refused()
    {
        RequireEmulator();
        var output = new float[2048];
        fixed (float* p = output)
        {
            using var a = new KernelArguments(SelftestKernels.SharedRoundtrip);
            a.Pointer((nint)p).Int(8);
            Assert.Equal(CudaEmulatorStatus.InvalidArgument, Launch(SelftestKernels.SharedRoundtrip, a, 1, 1025, 64));
            Assert.Contains("block (1025,1,1)", CudaEmulatorNative.LastError());
            Assert.Equal(CudaEmulatorStatus.InvalidArgument, Launch(SelftestKernels.SharedRoundtrip, a, 0, 32, 64));
            Assert.Contains("grid (0,1,1)", CudaEmulatorNative.LastError());
        }
    }

    [SkippableFact]
    public void Shared_memory_above_the_default_needs_the_kernels_opt_in()
    {
        RequireEmulator();
        var name = SelftestKernels.SharedRoundtrip.Name;
        Assert.Equal(CudaEmulatorStatus.Ok, CudaEmulatorNative.GetLimits(out var limits));
        Assert.Equal(CudaEmulatorStatus.Ok, CudaEmulatorNative.SetMaxDynamicShared(name, limits.DefaultDynamicSharedBytes));
        const int n = 16384; // 64 KiB
        var output = new float[n];
        fixed (float* p = output)
        {
            using var a = new KernelArguments(SelftestKernels.SharedRoundtrip);
            a.Pointer((nint)p).Int(n);
            Assert.Equal(CudaEmulatorStatus.InvalidArgument, Launch(SelftestKernels.SharedRoundtrip, a, 1, 128, 4 * n));
            Assert.Contains("exceed its limit of 49152", CudaEmulatorNative.LastError());

            Assert.Equal(CudaEmulatorStatus.Ok, CudaEmulatorNative.SetMaxDynamicShared(name, 4 * n));
            Assert.Equal(CudaEmulatorStatus.Ok, Launch(SelftestKernels.SharedRoundtrip, a, 1, 128, 4 * n));
        }
        for (int i = 0; i < n; i++) Assert.Equal(i + 0.5f, output[i]);

        Assert.Equal(CudaEmulatorStatus.InvalidArgument, CudaEmulatorNative.SetMaxDynamicShared(name, limits.MaxSharedBytesPerBlockOptin + 1));
        Assert.Equal(CudaEmulatorStatus.Ok, CudaEmulatorNative.GetMaxDynamicShared(name, out int kept));
        Assert.Equal(4 * n, kept);
    }

    [SkippableFact]
    public void A_failed_kernel_check_returns_from_the_kernel_and_leaves_its_condition_for_the_launcher()
    {
        RequireEmulator();
        var x = new float[3 * 40];
        var sums = new float[3];
        var maxes = new float[3];
        var total = new float[1];
        Array.Fill(sums, -7f);
        fixed (float* px = x, ps = sums, pm = maxes, pt = total)
        {
            using var a = new KernelArguments(SelftestKernels.RowReduce);
            a.Pointer((nint)px).Int(3).Int(40).Pointer((nint)ps).Pointer((nint)pm).Pointer((nint)pt);
            Assert.Equal(CudaEmulatorStatus.Ok, Launch(SelftestKernels.RowReduce, a, 3, 64, 4 * 40 - 4));
        }
        Assert.Equal(CudaEmulatorStatus.Ok, CudaEmulatorNative.TakeContractFailure(out int line));
        Assert.True(line > 0, "no contract failure was recorded");
        var error = CudaEmulatorNative.LastError();
        Assert.Contains("kernel 'mtkd_selftest_row_reduce', block (0,0,0)", error);
        Assert.Contains("check failed: ", error);
        Assert.Contains("mtkd_dynamic_smem_bytes()", error);
        Assert.Contains($"(selftest.cu:{line})", error);
        Assert.All(sums, s => Assert.Equal(-7f, s)); // nothing written
        Assert.Equal(CudaEmulatorStatus.Ok, CudaEmulatorNative.TakeContractFailure(out int again));
        Assert.Equal(0, again); // taken once
    }

    [SkippableFact]
    public void A_barrier_some_threads_never_reach_is_reported_instead_of_hanging()
    {
        RequireEmulator();
        var output = new int[64];
        fixed (int* p = output)
        {
            using var a = new KernelArguments(SelftestKernels.DivergentBarrier);
            a.Pointer((nint)p);
            Assert.Equal(CudaEmulatorStatus.KernelFailed, Launch(SelftestKernels.DivergentBarrier, a, 2, 64, 0));
        }
        Assert.Contains("every live thread waits at a barrier that can never complete", CudaEmulatorNative.LastError());
    }

    [SkippableTheory]
    [InlineData(32)]
    [InlineData(96)]
    [InlineData(256)]
    public void Block_reductions_are_exact_over_odd_sizes(int threads)
    {
        RequireEmulator();
        int seed = TestSeeds.Next();
        var rng = new Random(seed);
        foreach (int cols in new[] { 1, 2, 31, 33, 255, 1000, 1001 })
        {
            const int rows = 3;
            var x = new float[rows * cols];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
            var sums = new float[rows];
            var maxes = new float[rows];
            var total = new float[1];
            fixed (float* px = x, ps = sums, pm = maxes, pt = total)
            {
                using var a = new KernelArguments(SelftestKernels.RowReduce);
                a.Pointer((nint)px).Int(rows).Int(cols).Pointer((nint)ps).Pointer((nint)pm).Pointer((nint)pt);
                Assert.Equal(CudaEmulatorStatus.Ok, Launch(SelftestKernels.RowReduce, a, rows, (uint)threads, (uint)(4 * cols)));
            }
            double all = 0;
            for (int r = 0; r < rows; r++)
            {
                var row = x.AsSpan(r * cols, cols).ToArray();
                double sum = row.Sum(v => (double)v);
                all += sum;
                Assert.True(Math.Abs(sums[r] - sum) <= 1e-5 * cols, $"seed {seed}, {threads} threads, {cols} columns, row {r}: sum {sums[r]} vs {sum}");
                Assert.Equal(row.Max(), maxes[r]);
            }
            Assert.True(Math.Abs(total[0] - all) <= 1e-5 * rows * cols, $"seed {seed}: atomic total {total[0]} vs {all}");
        }
    }

    [SkippableFact]
    public void Warp_shuffles_follow_cuda_semantics()
    {
        RequireEmulator();
        const int threads = 64;
        var xorOut = new int[5 * threads];
        var idxOut = new float[threads];
        fixed (int* px = xorOut)
        fixed (float* pi = idxOut)
        {
            using var a = new KernelArguments(SelftestKernels.Shuffle);
            a.Pointer((nint)px).Pointer((nint)pi);
            Assert.Equal(CudaEmulatorStatus.Ok, Launch(SelftestKernels.Shuffle, a, 1, threads, 0));
        }
        for (int t = 0; t < threads; t++)
        {
            int warpBase = t & ~31, lane = t & 31;
            for (int j = 0; j < 5; j++) Assert.Equal(7 * (warpBase + (lane ^ (1 << j))) + 3, xorOut[5 * t + j]);
            Assert.Equal(warpBase + ((3 * lane + 1) & 31), idxOut[t]);
        }
    }

    [SkippableFact]
    public void Every_kernel_the_launcher_names_is_registered_with_the_same_parameters()
    {
        RequireEmulator();
        foreach (var kernel in DistillKernels.All.Concat(CatalogKernels.All).Concat(SelftestKernels.InPtx).Append(SelftestKernels.DivergentBarrier))
        {
            var sizes = CudaEmulatorNative.ParameterSizes(kernel.Name);
            Assert.True(sizes is not null, $"{kernel.Name} is not registered: {CudaEmulatorNative.LastError()}");
            Assert.Equal(kernel.Parameters.Select(KernelSignature.SizeOf), sizes!);
        }
    }

    [SkippableFact]
    public void A_cu_kernel_reads_and_writes_ilgpu_buffers()
    {
        RequireEmulator();
        // ILGPU's CPU accelerator allocates host memory, so its NativePtr is what the emulator's kernels address,
        // as a CUDA accelerator's NativePtr is what the GPU's kernels address.
        using var runtime = GpuRuntime.Create(GpuDevice.Cpu);
        using var target = new CudaEmulatorTarget();
        var detail = CudaSelfCheck.IlgpuBuffers(target, runtime.Accelerator, TestSeeds.Next());
        Assert.StartsWith("5 rows of 1001", detail);
    }
}
