using System.Runtime.InteropServices;

namespace MtkdRl.Gpu.Cuda;

/// <summary>
/// A loaded CUDA module. Unloading needs the module's context current, so the handle remembers it and
/// pushes it around cuModuleUnload; the thread's own current context is left as it was.
/// </summary>
internal sealed class CudaModule : SafeHandle
{
    private readonly nint _context;

    /// <summary>What the JIT said about the module: registers, shared memory and spills of each kernel.</summary>
    public string JitLog { get; }

    public string Name { get; }

    private CudaModule(nint module, nint context, string name, string jitLog) : base(0, ownsHandle: true)
    {
        SetHandle(module);
        _context = context;
        Name = name;
        JitLog = jitLog;
    }

    public override bool IsInvalid => handle == 0;

    /// <summary>JIT-compiles <paramref name="ptx"/> (NUL-terminated) into <paramref name="context"/>, which must be current.</summary>
    public static CudaModule Load(nint context, ReadOnlySpan<byte> ptx, string name)
    {
        nint module = CudaDriver.LoadModule(ptx, $"PTX module '{name}'", out var log);
        return new CudaModule(module, context, name, log);
    }

    public nint GetFunction(string kernel) => CudaDriver.GetFunction(handle, kernel);

    private nint? _contractFlag;

    /// <summary>
    /// The device address of the module's mtkd_contract_failure (kernels/mtkd_cuda.cuh), where a kernel whose
    /// launch contract failed writes the line of the check; 0 for a module without it.
    /// </summary>
    public nint ContractFlag => _contractFlag ??= CudaDriver.TryGetGlobal(handle, "mtkd_contract_failure");

    protected override bool ReleaseHandle() => CudaDriver.TryUnloadModule(handle, _context);
}
