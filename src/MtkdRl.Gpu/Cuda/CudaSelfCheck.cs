using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using MtkdRl.Gpu.Ilgpu;
using MtkdRl.Core;
using MtkdRl.Core.Distill;

namespace MtkdRl.Gpu.Cuda;

/// <summary>One check of <see cref="CudaSelfCheck"/>: passed or not, and what was seen.</summary>
public sealed record CudaCheckResult(string Name, bool Passed, string Detail);

/// <summary>
/// Checks of the cuda backend's plumbing that only a GPU can answer: the kernels run in ILGPU's context on
/// ILGPU's memory, the JIT accepts every kernel (its report gives registers and spills), driver errors are
/// reported by name, and CUDA events time work. The numbers themselves are checked by the backend
/// agreement tests; this is what sits under them.
/// </summary>
public static class CudaSelfCheck
{
    public static IReadOnlyList<CudaCheckResult> Run(CudaBackend backend, int seed)
    {
        var target = backend.Target;
        return
        [
            Check("context", () => ContextIsIlgpus(target)),
            Check("ilgpu-buffers", () => IlgpuBuffers(target, backend.Runtime.Accelerator, seed)),
            Check("jit", () => JitReport(target)),
            Check("ilgpu-jit", () => IlgpuJitReport(target.Accelerator)),
            Check("unknown-kernel", () => UnknownKernelIsNamed(target)),
            Check("bad-ptx", () => BadPtxIsReported(target)),
            Check("event-timer", () => EventsTime(target, backend.Runtime.Accelerator, seed)),
        ];
    }

    /// <summary>
    /// The part of <see cref="Run"/> the emulator can answer: a .cu kernel on buffers of ILGPU's CPU accelerator,
    /// whose memory is host memory that the emulated kernels address directly.
    /// </summary>
    public static IReadOnlyList<CudaCheckResult> RunEmulated(CudaEmulatorBackend backend, int seed) =>
    [
        Check("ilgpu-buffers", () =>
        {
            using var runtime = GpuRuntime.Create(GpuDevice.Cpu);
            return IlgpuBuffers(backend.Target, runtime.Accelerator, seed);
        }),
    ];

    private static CudaCheckResult Check(string name, Func<string> body)
    {
        try
        {
            return new CudaCheckResult(name, true, body());
        }
        catch (Exception e)
        {
            return new CudaCheckResult(name, false, $"{e.GetType().Name}: {e.Message}");
        }
    }

    private static string ContextIsIlgpus(CudaDriverTarget target)
    {
        nint current = target.CurrentContextAfterBind();
        if (current != target.Accelerator.NativePtr || current != target.Context)
            throw new MtkdException($"current context 0x{current:x} is not ILGPU's 0x{target.Accelerator.NativePtr:x}");
        return $"context 0x{current:x}, stream 0x{target.Stream:x}, driver {CudaDriver.DriverVersion()}";
    }

    /// <summary>
    /// The row-reduce self-test kernel on buffers that <paramref name="accelerator"/> allocated and filled,
    /// launched through <paramref name="target"/>, read back through ILGPU. Works for the GPU (CUDA
    /// accelerator) and for the emulator (ILGPU's CPU accelerator, whose buffers are host memory).
    /// </summary>
    internal static string IlgpuBuffers(IKernelTarget target, Accelerator accelerator, int seed)
    {
        const int rows = 5, cols = 1001, threads = 96;
        accelerator.Bind(); // this thread may have another context current
        var rng = new Random(seed);
        var x = new float[rows * cols];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);

        using var input = accelerator.Allocate1D(x);
        using var sums = accelerator.Allocate1D<float>(rows);
        using var maxes = accelerator.Allocate1D<float>(rows);
        using var total = accelerator.Allocate1D<float>(1);
        sums.MemSet(0xFF);
        maxes.MemSet(0xFF);
        total.MemSetToZero();
        accelerator.Synchronize();

        using (var a = new KernelArguments(SelftestKernels.RowReduce))
        {
            a.Pointer(input.NativePtr).Int(rows).Int(cols).Pointer(sums.NativePtr).Pointer(maxes.NativePtr).Pointer(total.NativePtr);
            target.Launch(a, rows, threads, 4 * cols);
        }
        target.Synchronize();

        var gotSums = sums.GetAsArray1D();
        var gotMaxes = maxes.GetAsArray1D();
        float gotTotal = total.GetAsArray1D()[0];
        double all = 0, worst = 0;
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            float max = float.NegativeInfinity;
            for (int c = 0; c < cols; c++)
            {
                sum += x[r * cols + c];
                max = Math.Max(max, x[r * cols + c]);
            }
            all += sum;
            worst = Math.Max(worst, Math.Abs(gotSums[r] - sum));
            if (gotMaxes[r] != max) throw new MtkdException($"row {r}: max {gotMaxes[r]}, expected {max}");
        }
        if (!(worst <= 1e-4)) throw new MtkdException($"row sums off by {worst:E2}");
        if (!(Math.Abs(gotTotal - all) <= 1e-3)) throw new MtkdException($"atomic total {gotTotal}, expected {all:G7}");
        return $"{rows} rows of {cols} read from ILGPU buffers, sums/maxes/atomic total written back (max error {worst:E1})";
    }

    /// <summary>
    /// Every kernel JIT-compiles and resolves; the detail gives registers, spills (local bytes) and blocks per
    /// multiprocessor at the benchmark shape (B=4096, K=16, C=1000, D=512), and of the short-row kernels at the dense
    /// shape (B=65536, K=4, C=11, D=16). The JIT's own log is empty when the
    /// driver took the module from its cache, so the numbers come from the function attributes.
    /// </summary>
    private static string JitReport(CudaDriverTarget target)
    {
        foreach (var kernel in SelftestKernels.InPtx) target.Prepare(kernel);
        var passes = new[] { DistillPass.Stats, DistillPass.Gradient, DistillPass.Fused };
        var shape = new DistillShape(4096, 16, 1000, 512);
        var dense = new DistillShape(65536, 11, [16, 16, 16, 16]);
        var lines = passes.Select(pass => (shape, pass, RowKernels.Block)).Concat(passes.Select(pass => (dense, pass, RowKernels.Short)))
            .Select(run =>
            {
                var (at, pass, rows) = run;
                var plan = DistillKernels.PlanFor(pass, at, target.MaxDynamicSharedBytes(DistillKernels.For(pass)), rows);
                return target.Resources(plan.Kernel, plan.Threads, plan.SharedBytes);
            });
        var log = string.Join(" / ", target.JitLogs.Values.Where(l => l.Length > 0)).ReplaceLineEndings(" / ");
        return string.Join(" | ", lines) + (log.Length > 0 ? " | JIT: " + log : " | JIT log empty (modules from the driver's cache)");
    }

    /// <summary>
    /// ILGPU's kernels as the CUDA JIT builds them under their launch bounds (.maxntid 256, .minnctapersm 4, which
    /// caps registers at 64): registers and local bytes per kernel. Local bytes above 0 are spills, the sign that
    /// the bound costs more than the occupancy it buys.
    /// </summary>
    private static string IlgpuJitReport(CudaAccelerator accelerator)
    {
        var kernels = new (string Name, Action<DistillKernelArgs> Run)[]
        {
            ("stats", StatsKernel.Run<SharedRowScratch>), ("gradient", GradientKernel.Run<SharedRowScratch>),
            ("fused", FusedKernel.Run<SharedRowScratch>),
        };
        var lines = new List<string>();
        foreach (var (name, run) in kernels)
        {
            var compiled = accelerator.Backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(run.Method), Ilgpu.DistillKernels.CudaLaunchBounds);
            using var kernel = (CudaKernel)accelerator.LoadKernel(compiled);
            CudaDriverTarget.BindContext(accelerator);
            int registers = CudaDriver.GetFunctionAttribute(kernel.FunctionPtr, CudaDriver.FuncAttributeNumRegs, name);
            int local = CudaDriver.GetFunctionAttribute(kernel.FunctionPtr, CudaDriver.FuncAttributeLocalSizeBytes, name);
            lines.Add($"{name}: {registers} registers, {local} B local{(local > 0 ? " (spills)" : "")}");
        }
        return string.Join(" | ", lines);
    }

    private static string UnknownKernelIsNamed(CudaDriverTarget target)
    {
        var module = target.Module("selftest");
        try
        {
            target.GetFunction(module, "mtkd_no_such_kernel");
        }
        catch (CudaException e) when (e.Call == "cuModuleGetFunction" && e.ErrorName == "CUDA_ERROR_NOT_FOUND")
        {
            return e.Message;
        }
        throw new MtkdException("looking up a kernel that does not exist did not fail with CUDA_ERROR_NOT_FOUND");
    }

    private static string BadPtxIsReported(CudaDriverTarget target)
    {
        var image = System.Text.Encoding.ASCII.GetBytes(".version 7.0\n.target sm_80\n.address_size 64\n.visible .entry broken() { this is not ptx; }\n\0");
        try
        {
            using var module = target.LoadModule(image, "broken");
        }
        catch (CudaException e) when (e.Call == "cuModuleLoadDataEx" && e.Message.Contains("broken", StringComparison.Ordinal))
        {
            return e.Message;
        }
        throw new MtkdException("loading broken PTX did not fail with a CudaException naming the module");
    }

    private static string EventsTime(CudaDriverTarget target, Accelerator accelerator, int seed)
    {
        using var timer = target.CreateTimer();
        timer.Start();
        IlgpuBuffers(target, accelerator, seed);
        timer.Stop();
        float ms = timer.ElapsedMilliseconds();
        if (!(ms > 0)) throw new MtkdException($"events measured {ms} ms around a launch");
        return $"{ms:F3} ms around a self-test launch";
    }
}
