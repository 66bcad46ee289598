using System.Runtime.InteropServices;
using MtkdRl.Core;
using MtkdRl.Gpu.Timing;

namespace MtkdRl.Gpu.Cuda;

/// <summary>
/// Runs kernels/*.cu on the CPU through libmtkd_cuemu: memory is host memory aligned like cuMemAlloc's
/// (256 bytes, so the kernels take the same float4 paths as on a GPU), launches run synchronously, and
/// the per-kernel shared-memory opt-in is required exactly as the driver requires it.
/// </summary>
internal sealed unsafe class CudaEmulatorTarget : IKernelTarget
{
    private const int Alignment = 256;
    private readonly CudaEmulatorLimits _limits;
    private readonly object _gate = new();
    private readonly Dictionary<string, int> _prepared = [];

    private readonly CudaEmulatorLaunchOptions _options;

    public string Description { get; }

    public CudaEmulatorTarget() : this(CudaEmulatorMode.Default) { }

    public CudaEmulatorTarget(CudaEmulatorMode mode)
    {
        var probe = Probe();
        if (!probe.Available) throw new BackendUnavailableException(probe.Detail);
        Check(CudaEmulatorNative.GetLimits(out _limits), "mtkd_cuemu_get_limits");
        Mode = mode;
        _options = new CudaEmulatorLaunchOptions { ConcurrentBlocks = mode.ConcurrentBlocks, ApproximateMath = mode.ApproximateMath ? 1 : 0 };
        Description = $"CPU emulator of kernels/*.cu ({CudaEmulatorNative.Version()}: one OS thread per GPU thread, {mode})";
    }

    public CudaEmulatorMode Mode { get; }

    /// <summary>Whether libmtkd_cuemu loads here and holds every distill kernel.</summary>
    public static BackendAvailability Probe()
    {
        if (!NativeLibrary.TryLoad(CudaEmulatorNative.Library, typeof(CudaEmulatorTarget).Assembly, null, out var handle))
            return BackendAvailability.No(
                "libmtkd_cuemu.so was not found beside MtkdRl.Gpu.dll (it is built from kernels/ by CMake during `dotnet build`)");
        NativeLibrary.Free(handle);
        try
        {
            var names = CudaEmulatorNative.KernelNames();
            var missing = DistillKernels.All.Where(k => !names.Contains(k.Name)).Select(k => k.Name).ToArray();
            if (missing.Length > 0)
                return BackendAvailability.No($"libmtkd_cuemu.so lacks kernel(s) {string.Join(", ", missing)} (a stale build?)");
            return BackendAvailability.Yes($"{CudaEmulatorNative.Version()} with {names.Count} kernels");
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return BackendAvailability.No($"libmtkd_cuemu.so could not be used: {e.Message}");
        }
    }

    public CudaEmulatorLimits Limits => _limits;

    public void Prepare(KernelSignature kernel)
    {
        lock (_gate) PrepareLocked(kernel);
    }

    public int MaxDynamicSharedBytes(KernelSignature kernel)
    {
        lock (_gate) return PrepareLocked(kernel);
    }

    /// <summary>Checks the kernel against the emulator's registry and opts it into all the shared memory a block may have.</summary>
    private int PrepareLocked(KernelSignature kernel)
    {
        if (_prepared.TryGetValue(kernel.Name, out int max)) return max;
        var sizes = CudaEmulatorNative.ParameterSizes(kernel.Name)
            ?? throw new CudaEmulatorException("mtkd_cuemu_kernel_parameters", (int)CudaEmulatorStatus.InvalidArgument, CudaEmulatorNative.LastError());
        var expected = kernel.Parameters.Select(KernelSignature.SizeOf).ToArray();
        if (!sizes.SequenceEqual(expected))
            throw new InvalidOperationException(
                $"kernel {kernel.Name}: the launcher's parameter sizes [{string.Join(',', expected)}] differ from the kernel's [{string.Join(',', sizes)}]");
        max = _limits.MaxSharedBytesPerBlockOptin;
        Check(CudaEmulatorNative.SetMaxDynamicShared(kernel.Name, max), "mtkd_cuemu_set_max_dynamic_smem");
        _prepared.Add(kernel.Name, max);
        return max;
    }

    public IDeviceBuffer<T> Allocate<T>(long length) where T : unmanaged => new HostBuffer<T>(length);

    public void Launch(KernelArguments arguments, int blocks, int threadsPerBlock, int dynamicSharedBytes)
    {
        arguments.EnsureComplete();
        Prepare(arguments.Kernel);
        var status = CudaEmulatorNative.LaunchWith(arguments.Kernel.Name, (uint)blocks, 1, 1, (uint)threadsPerBlock, 1, 1,
            (uint)dynamicSharedBytes, arguments.Pointers, arguments.Sizes, arguments.Count, _options);
        Check(status, "mtkd_cuemu_launch");
        // The launch ran on this thread's behalf; its contract flag waits for Synchronize, as on a GPU.
        Check(CudaEmulatorNative.TakeContractFailure(out int line), "mtkd_cuemu_take_contract_failure");
        if (line != 0)
        {
            string detail = CudaEmulatorNative.LastError();
            lock (_gate) _contractFailure ??= new KernelContractException(ContractLocation(detail, line), detail);
        }
    }

    /// <summary>The first contract failure since the last <see cref="Synchronize"/>, as a GPU's module flag holds it.</summary>
    private KernelContractException? _contractFailure;

    /// <summary>"file.cu:line" from the emulator's "(file.cu:line)" at the end of its description.</summary>
    private static string ContractLocation(string detail, int line)
    {
        int open = detail.LastIndexOf('(');
        return open >= 0 && detail.EndsWith(')') ? detail[(open + 1)..^1] : $"line {line}";
    }

    /// <summary>Launches already ran; reports (and clears) a contract failure of any of them.</summary>
    public void Synchronize()
    {
        KernelContractException? failure;
        lock (_gate)
        {
            failure = _contractFailure;
            _contractFailure = null;
        }
        if (failure is not null) throw failure;
    }

    /// <summary>Launches run before they return, so host time between the marks is the kernels' time.</summary>
    public IStreamTimer CreateTimer() => new HostStreamTimer(Synchronize);

    public void Dispose() { }

    private static void Check(CudaEmulatorStatus status, string call)
    {
        if (status != CudaEmulatorStatus.Ok) throw new CudaEmulatorException(call, (int)status, CudaEmulatorNative.LastError());
    }

    /// <summary>Host memory standing in for device memory; the kernels get its address.</summary>
    private sealed class HostBuffer<T> : IDeviceBuffer<T> where T : unmanaged
    {
        private T* _data;

        public HostBuffer(long length)
        {
            Length = length;
            _data = (T*)NativeMemory.AlignedAlloc((nuint)(Math.Max(1, length) * sizeof(T)), Alignment);
        }

        public long Length { get; }
        public nint Pointer => (nint)_data;

        public void Upload(ReadOnlySpan<T> source, long offset = 0)
        {
            CheckRange(offset, source.Length);
            source.CopyTo(new Span<T>(_data + offset, source.Length));
        }

        public void Download(Span<T> destination, long offset = 0)
        {
            CheckRange(offset, destination.Length);
            new ReadOnlySpan<T>(_data + offset, destination.Length).CopyTo(destination);
        }

        public void FillBytes(byte value) => NativeMemory.Fill(_data, (nuint)(Length * sizeof(T)), value);

        public void CopyTo(IDeviceBuffer<T> destination)
        {
            if (destination is not HostBuffer<T> to || to.Length != Length || to._data == null || _data == null)
                throw new ArgumentException("a copy needs a live emulator buffer of the same length", nameof(destination));
            long bytes = Length * sizeof(T);
            Buffer.MemoryCopy(_data, to._data, bytes, bytes);
        }

        private void CheckRange(long offset, int count)
        {
            if (_data == null) throw new ObjectDisposedException(nameof(HostBuffer<T>));
            if (offset < 0 || offset + count > Length)
                throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, {offset + count}) is outside a buffer of {Length} elements");
        }

        public void Dispose()
        {
            NativeMemory.AlignedFree(_data);
            _data = null;
        }
    }
}
