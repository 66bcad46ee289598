using MtkdRl.Core;

namespace MtkdRl.Gpu.Cuda;

/// <summary>The CPU emulator refused a launch or a kernel failed in it; the message is the emulator's own.</summary>
public sealed class CudaEmulatorException : MtkdException
{
    /// <summary>The mtkd_cuemu_status code.</summary>
    public int Status { get; }

    public CudaEmulatorException(string call, int status, string message) : base($"{call} failed: {message}") => Status = status;
}
