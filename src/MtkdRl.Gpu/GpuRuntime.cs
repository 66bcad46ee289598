using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using MtkdRl.Core;

namespace MtkdRl.Gpu;

/// <summary>Where ILGPU kernels run.</summary>
public enum GpuDevice
{
    /// <summary>ILGPU's CPU accelerator (a GPU simulator: warps and groups as threads). Slow; used by tests.</summary>
    Cpu,
    /// <summary>The first NVIDIA GPU, through ILGPU's CUDA accelerator.</summary>
    Cuda,
}

/// <summary>
/// One ILGPU context and accelerator. The ilgpu backend runs its kernels on it; the cuda backend loads
/// kernels/*.cu into the same CUDA context and launches them on the same buffers and stream.
/// </summary>
public sealed class GpuRuntime : IDisposable
{
    /// <summary>
    /// The simulated device for <see cref="GpuDevice.Cpu"/>: NVIDIA's warp size of 32 so warp-level code
    /// runs as it does on a GPU, 8 warps per group to keep the number of simulator threads modest.
    /// </summary>
    public static readonly CPUDevice SimulatedDevice = new(numThreadsPerWarp: 32, numWarpsPerMultiprocessor: 8, numMultiprocessors: 1);

    public Context Context { get; }
    public Accelerator Accelerator { get; }
    public GpuDevice Kind { get; }
    public bool IsCuda => Kind == GpuDevice.Cuda;

    private GpuRuntime(Context context, Accelerator accelerator, GpuDevice kind)
    {
        Context = context;
        Accelerator = accelerator;
        Kind = kind;
    }

    /// <summary>Creates the runtime, or throws <see cref="BackendUnavailableException"/> saying why it cannot.</summary>
    public static GpuRuntime Create(GpuDevice kind)
    {
        if (kind == GpuDevice.Cpu)
        {
            var context = Context.Create(b => b.CPU(SimulatedDevice).EnableAlgorithms().Optimize(OptimizationLevel.O1));
            return new GpuRuntime(context, context.CreateCPUAccelerator(0), kind);
        }

        IlgpuNativeLibraries.EnsureRegistered();
        var probe = ProbeCuda();
        if (!probe.Available) throw new BackendUnavailableException(probe.Detail);
        var ctx = Context.Create(b => b.Cuda().EnableAlgorithms().Optimize(OptimizationLevel.O1));
        try
        {
            return new GpuRuntime(ctx, ctx.CreateCudaAccelerator(0), kind);
        }
        catch (Exception e)
        {
            ctx.Dispose();
            throw new BackendUnavailableException($"CUDA device 0 could not be opened: {e.Message}");
        }
    }

    public static BackendAvailability Probe(GpuDevice kind) =>
        kind == GpuDevice.Cpu ? BackendAvailability.Yes("ILGPU CPU accelerator (GPU simulator)") : ProbeCuda();

    /// <summary>Says whether a CUDA device can be used, and if not, which link is missing: driver library or device.</summary>
    public static BackendAvailability ProbeCuda()
    {
        IlgpuNativeLibraries.EnsureRegistered();
        if (!NativeLibrary.TryLoad("libcuda.so.1", out var handle) && !NativeLibrary.TryLoad("libcuda.so", out handle))
            return BackendAvailability.No("no NVIDIA driver: libcuda.so.1 was not found (install the NVIDIA driver on a machine with a GPU)");
        NativeLibrary.Free(handle);
        try
        {
            using var ctx = Context.Create(b => b.Cuda());
            var devices = ctx.GetCudaDevices();
            if (devices.Count == 0)
                return BackendAvailability.No("the NVIDIA driver is installed but reports no CUDA device");
            var d = devices[0];
            return BackendAvailability.Yes($"{d.Name} (sm_{d.Architecture?.Major}{d.Architecture?.Minor}, {d.MemorySize / (1 << 20)} MiB, driver {d.DriverVersion})");
        }
        catch (Exception e)
        {
            return BackendAvailability.No($"the NVIDIA driver failed to initialise: {e.Message}");
        }
    }

    public string Describe() => IsCuda
        ? $"{Accelerator.Name} (CUDA, {Accelerator.NumMultiprocessors} SMs)"
        : $"ILGPU CPU accelerator (warp {Accelerator.WarpSize}, {Accelerator.MaxNumThreadsPerGroup} threads/group)";

    public void Dispose()
    {
        Accelerator.Dispose();
        Context.Dispose();
    }
}
