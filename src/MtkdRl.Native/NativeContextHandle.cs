using System.Runtime.InteropServices;
using MtkdRl.Core;

namespace MtkdRl.Native;

/// <summary>Owns one mtkd_context (SIMD level, thread count, scratch memory).</summary>
public sealed class NativeContextHandle : SafeHandle
{
    /// <summary>Used by the P/Invoke marshaller; see <see cref="Create"/>.</summary>
    public NativeContextHandle() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    /// <summary>
    /// Creates a context; <see cref="BackendUnavailableException"/> when the library is missing or the CPU lacks the level.
    /// </summary>
    /// <param name="threads">Threads for each call; 0 or less means every core.</param>
    /// <param name="allowed">The CPU features the context may use (others are hidden, as on a CPU without them).</param>
    public static NativeContextHandle Create(NativeSimd simd, int threads, NativeCpuFeatures allowed = NativeCpuFeatures.All)
    {
        NativeLibraryLoader.EnsureLoaded();
        var status = allowed == NativeCpuFeatures.All
            ? NativeMethods.ContextCreate(simd, threads, out var context)
            : NativeMethods.ContextCreateLimited(simd, threads, allowed, out context);
        NativeErrors.ThrowIfFailed(status);
        return context;
    }

    /// <summary>The SIMD level and thread count the context actually uses.</summary>
    public (NativeSimd Simd, int Threads) Describe()
    {
        NativeErrors.ThrowIfFailed(NativeMethods.ContextDescribe(this, out var simd, out int threads));
        return (simd, threads);
    }

    protected override bool ReleaseHandle()
    {
        NativeMethods.ContextDestroy(handle);
        return true;
    }
}

/// <summary>Turns native statuses into MtkdRl exceptions carrying mtkd_last_error().</summary>
public static class NativeErrors
{
    public static void ThrowIfFailed(MtkdStatus status)
    {
        if (status == MtkdStatus.Ok) return;
        string message = NativeMethods.LastError();
        if (message.Length == 0) message = $"native call failed with status {status}";
        throw status switch
        {
            MtkdStatus.InvalidArgument => new MtkdInputException(message),
            MtkdStatus.Unsupported => new BackendUnavailableException(message),
            _ => new MtkdException(message),
        };
    }
}
