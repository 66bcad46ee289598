using MtkdRl.Gpu.Timing;

namespace MtkdRl.Gpu.Cuda;

/// <summary>
/// Where kernels/*.cu run: a CUDA device through the driver API (<see cref="CudaDriverTarget"/>) or the
/// CPU emulator (<see cref="CudaEmulatorTarget"/>). Sessions, launch geometry and argument packing are
/// written once against this, so the emulator's tests exercise the same launch code a GPU runs.
/// Implementations are safe to call from several threads.
/// </summary>
internal interface IKernelTarget : IDisposable
{
    /// <summary>What runs the kernels, for humans.</summary>
    string Description { get; }

    /// <summary>Makes a kernel launchable (module load, function lookup, shared-memory opt-in); launching does it too.</summary>
    void Prepare(KernelSignature kernel);

    /// <summary>The most dynamic shared memory one block of <paramref name="kernel"/> may use.</summary>
    int MaxDynamicSharedBytes(KernelSignature kernel);

    IDeviceBuffer<T> Allocate<T>(long length) where T : unmanaged;

    /// <summary>Queues a 1-D launch; completes in stream order (the emulator runs it before returning).</summary>
    void Launch(KernelArguments arguments, int blocks, int threadsPerBlock, int dynamicSharedBytes);

    /// <summary>Waits for every queued launch and copy; reports a failed kernel.</summary>
    void Synchronize();

    /// <summary>A clock on the queue launches go to (CUDA events on a GPU).</summary>
    IStreamTimer CreateTimer();
}

/// <summary>A device allocation of <see cref="Length"/> elements, addressed by kernels through <see cref="Pointer"/>.</summary>
internal interface IDeviceBuffer<T> : IDisposable where T : unmanaged
{
    long Length { get; }

    /// <summary>The device address a kernel argument carries.</summary>
    nint Pointer { get; }

    /// <summary>Copies host data to elements [offset, offset + source.Length), after the work queued before it.</summary>
    void Upload(ReadOnlySpan<T> source, long offset = 0);

    /// <summary>Copies elements [offset, offset + destination.Length) to the host once the queued work is done.</summary>
    void Download(Span<T> destination, long offset = 0);

    /// <summary>Sets every byte (0xFF makes every float NaN), in queue order.</summary>
    void FillBytes(byte value);

    /// <summary>Copies every element to <paramref name="destination"/> (a buffer of the same target, as long), on the device, in queue order.</summary>
    void CopyTo(IDeviceBuffer<T> destination);
}
