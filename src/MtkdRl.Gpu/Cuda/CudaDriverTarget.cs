using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using MtkdRl.Gpu.Timing;

namespace MtkdRl.Gpu.Cuda;

/// <summary>
/// Runs kernels/*.cu on a GPU inside ILGPU's CUDA context: memory is ILGPU's (MemoryBuffer1D, whose
/// NativePtr is the device pointer), launches go to ILGPU's default stream (the null stream), so ILGPU
/// copies and our kernels are ordered with each other. PTX modules are JIT-compiled once, on first use.
/// </summary>
internal sealed unsafe class CudaDriverTarget : IKernelTarget
{
    private readonly CudaAccelerator _accelerator;
    private readonly nint _context, _stream;
    private readonly int _sharedOptin;
    private readonly object _gate = new();
    private readonly Dictionary<string, CudaModule> _modules = [];
    private readonly Dictionary<string, (nint Function, int MaxDynamicShared)> _functions = [];

    public string Description { get; }

    public CudaDriverTarget(GpuRuntime runtime)
    {
        _accelerator = runtime.Accelerator as CudaAccelerator
            ?? throw new ArgumentException("the cuda backend needs ILGPU's CUDA accelerator", nameof(runtime));
        _context = _accelerator.NativePtr;
        _stream = ((CudaStream)_accelerator.DefaultStream).StreamPtr;
        lock (_gate)
        {
            Bind();
            int device = CudaDriver.GetContextDevice();
            _sharedOptin = CudaDriver.GetDeviceAttribute(CudaDriver.DeviceAttributeMaxSharedMemoryPerBlockOptin, device);
        }
        Description = $"{runtime.Describe()}, kernels/*.cu as PTX by {PtxResources.Producer("distill")}";
    }

    /// <summary>The CUDA context (ILGPU's), for checks of what runs where.</summary>
    public nint Context => _context;

    /// <summary>The driver's current context on this thread after binding ours.</summary>
    public nint CurrentContextAfterBind()
    {
        lock (_gate)
        {
            Bind();
            return CudaDriver.GetCurrentContext();
        }
    }

    /// <summary>The stream our launches use (ILGPU's default stream).</summary>
    public nint Stream => _stream;

    public CudaAccelerator Accelerator => _accelerator;

    /// <summary>The JIT's report (registers, spills) for each loaded module.</summary>
    public IReadOnlyDictionary<string, string> JitLogs
    {
        get
        {
            lock (_gate) return _modules.ToDictionary(m => m.Key, m => m.Value.JitLog);
        }
    }

    /// <summary>
    /// Makes ILGPU's context current on this thread. ILGPU remembers per thread which accelerator it bound,
    /// so the driver is asked as well: anything else may have changed the current context since.
    /// </summary>
    private void Bind() => BindContext(_accelerator);

    /// <summary>Makes <paramref name="accelerator"/>'s context current on this thread, for ILGPU and for the driver.</summary>
    internal static void BindContext(CudaAccelerator accelerator)
    {
        accelerator.Bind();
        if (CudaDriver.GetCurrentContext() != accelerator.NativePtr) CudaDriver.SetCurrentContext(accelerator.NativePtr);
    }

    /// <summary>Runs <paramref name="action"/> under this target's lock with its context bound.</summary>
    private void Bound(Action action)
    {
        lock (_gate)
        {
            Bind();
            action();
        }
    }

    public void Prepare(KernelSignature kernel)
    {
        lock (_gate)
        {
            Bind();
            Function(kernel);
        }
    }

    public int MaxDynamicSharedBytes(KernelSignature kernel)
    {
        lock (_gate)
        {
            Bind();
            return Function(kernel).MaxDynamicShared;
        }
    }

    /// <summary>An embedded PTX module, JIT-compiled into ILGPU's context on first use.</summary>
    public CudaModule Module(string name)
    {
        lock (_gate)
        {
            Bind();
            return ModuleLocked(name);
        }
    }

    /// <summary>JIT-compiles a PTX image that is not one of ours (the caller owns the module).</summary>
    public CudaModule LoadModule(byte[] image, string name)
    {
        lock (_gate)
        {
            Bind();
            return CudaModule.Load(_context, image, name);
        }
    }

    /// <summary>What the JIT made of a kernel, and how many blocks of a launch fit on one multiprocessor.</summary>
    public string Resources(KernelSignature kernel, int threads, int sharedBytes)
    {
        lock (_gate)
        {
            Bind();
            var (function, _) = Function(kernel);
            int registers = CudaDriver.GetFunctionAttribute(function, CudaDriver.FuncAttributeNumRegs, kernel.Name);
            int local = CudaDriver.GetFunctionAttribute(function, CudaDriver.FuncAttributeLocalSizeBytes, kernel.Name);
            int blocks = CudaDriver.OccupancyBlocksPerMultiprocessor(function, kernel.Name, threads, sharedBytes);
            return $"{kernel.Name}: {registers} registers, {local} B local; {threads} threads with {sharedBytes} B shared: {blocks} blocks/SM";
        }
    }

    /// <summary>A pair of CUDA events in this target's context, on its stream; each of its calls binds the context.</summary>
    public IStreamTimer CreateTimer() => new CudaEventTimer(Bound, _stream);

    /// <summary>Looks a kernel up in a module, in this target's context.</summary>
    public nint GetFunction(CudaModule module, string kernel)
    {
        lock (_gate)
        {
            Bind();
            return module.GetFunction(kernel);
        }
    }

    private CudaModule ModuleLocked(string name)
    {
        if (!_modules.TryGetValue(name, out var module))
        {
            module = CudaModule.Load(_context, PtxResources.Image(name), name);
            _modules.Add(name, module);
        }
        return module;
    }

    private (nint Function, int MaxDynamicShared) Function(KernelSignature kernel)
    {
        if (_functions.TryGetValue(kernel.Name, out var known)) return known;
        nint function = ModuleLocked(kernel.Module).GetFunction(kernel.Name);
        // Above 48 KiB a kernel must opt in; allow all the device offers beside the kernel's static shared memory.
        int staticShared = CudaDriver.GetFunctionAttribute(function, CudaDriver.FuncAttributeSharedSizeBytes, kernel.Name);
        int maxDynamic = _sharedOptin - staticShared;
        CudaDriver.SetFunctionAttribute(function, CudaDriver.FuncAttributeMaxDynamicSharedSizeBytes, maxDynamic, kernel.Name);
        var entry = (function, maxDynamic);
        _functions.Add(kernel.Name, entry);
        return entry;
    }

    public IDeviceBuffer<T> Allocate<T>(long length) where T : unmanaged
    {
        lock (_gate)
        {
            Bind();
            return new Buffer<T>(this, _accelerator.Allocate1D<T>(Math.Max(1, length)), length);
        }
    }

    public void Launch(KernelArguments arguments, int blocks, int threadsPerBlock, int dynamicSharedBytes)
    {
        arguments.EnsureComplete();
        lock (_gate)
        {
            Bind();
            var (function, _) = Function(arguments.Kernel);
            CudaDriver.LaunchKernel(function, arguments.Kernel.Name, (uint)blocks, (uint)threadsPerBlock, (uint)dynamicSharedBytes,
                _stream, arguments.Pointers);
        }
    }

    public void Synchronize()
    {
        lock (_gate)
        {
            Bind();
            CudaDriver.StreamSynchronize(_stream);
            ThrowIfContractFailedLocked();
        }
    }

    /// <summary>
    /// After the stream is idle: a kernel whose launch contract failed left its line in its module's flag
    /// (kernels/mtkd_cuda.cuh) and returned; report it, and clear the flag so the next launch starts clean.
    /// </summary>
    private void ThrowIfContractFailedLocked()
    {
        foreach (var (name, module) in _modules)
        {
            nint flag = module.ContractFlag;
            if (flag == 0) continue;
            int line = CudaDriver.ReadInt32(flag);
            if (line == 0) continue;
            CudaDriver.WriteInt32(flag, 0);
            throw new KernelContractException($"{name}.cu:{line}");
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            Bind();
            foreach (var module in _modules.Values) module.Dispose();
            _modules.Clear();
            _functions.Clear();
        }
    }

    /// <summary>An ILGPU buffer seen through <see cref="IDeviceBuffer{T}"/>; every call binds the context first.</summary>
    private sealed class Buffer<T>(CudaDriverTarget target, MemoryBuffer1D<T, Stride1D.Dense> buffer, long length)
        : IDeviceBuffer<T> where T : unmanaged
    {
        public long Length => length;
        public nint Pointer => buffer.NativePtr;

        public void Upload(ReadOnlySpan<T> source, long offset = 0)
        {
            CheckRange(offset, source.Length);
            if (source.IsEmpty) return;
            lock (target._gate)
            {
                target.Bind();
                var view = buffer.View.SubView(offset, source.Length);
                PinnedHost.Read(source, (ref T first, long count) => view.CopyFromCPU(ref first, count));
            }
        }

        public void Download(Span<T> destination, long offset = 0)
        {
            CheckRange(offset, destination.Length);
            if (destination.IsEmpty) return;
            lock (target._gate)
            {
                target.Bind();
                // Our kernels' failures surface here, as a CudaException, rather than inside ILGPU's copy.
                CudaDriver.StreamSynchronize(target._stream);
                target.ThrowIfContractFailedLocked();
                var view = buffer.View.SubView(offset, destination.Length);
                PinnedHost.Write(destination, (ref T first, long count) => view.CopyToCPU(ref first, count));
            }
        }

        public void FillBytes(byte value)
        {
            lock (target._gate)
            {
                target.Bind();
                buffer.View.MemSet(value);
            }
        }

        public void CopyTo(IDeviceBuffer<T> destination)
        {
            if (destination is not Buffer<T> to || to.Length != length)
                throw new ArgumentException("a copy needs a buffer of the same target and length", nameof(destination));
            lock (target._gate)
            {
                target.Bind();
                buffer.View.CopyTo(to.Memory.View);
            }
        }

        /// <summary>The ILGPU buffer behind this one.</summary>
        public MemoryBuffer1D<T, Stride1D.Dense> Memory => buffer;

        private void CheckRange(long offset, int count)
        {
            if (offset < 0 || offset + count > length)
                throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, {offset + count}) is outside a buffer of {length} elements");
        }

        public void Dispose()
        {
            lock (target._gate)
            {
                target.Bind();
                buffer.Dispose();
            }
        }
    }
}
