using System.Runtime.InteropServices;

namespace MtkdRl.Gpu.Cuda;

/// <summary>Status codes of libmtkd_cuemu (kernels/emu/cuemu.h).</summary>
internal enum CudaEmulatorStatus
{
    Ok = 0,
    InvalidArgument = 1,
    Unsupported = 2,
    OutOfMemory = 3,
    Internal = 4,
    KernelFailed = 5,
}

/// <summary>mtkd_cuemu_limits: the emulated device's limits.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct CudaEmulatorLimits
{
    public int WarpSize;
    public int MaxThreadsPerBlock;
    public int DefaultDynamicSharedBytes;
    public int MaxSharedBytesPerBlockOptin;
    public int MaxStaticSharedBytes;
}

/// <summary>mtkd_cuemu_options: how a launch runs (kernels/emu/cuemu.h).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct CudaEmulatorLaunchOptions
{
    public int ConcurrentBlocks;
    public int ApproximateMath;
}

/// <summary>P/Invoke bindings to libmtkd_cuemu, the CPU emulator of kernels/*.cu (kernels/emu/cuemu.h).</summary>
internal static unsafe partial class CudaEmulatorNative
{
    public const string Library = "mtkd_cuemu";

    [LibraryImport(Library, EntryPoint = "mtkd_cuemu_last_error")] private static partial nint LastErrorPtr();
    [LibraryImport(Library, EntryPoint = "mtkd_cuemu_version")] private static partial nint VersionPtr();
    [LibraryImport(Library, EntryPoint = "mtkd_cuemu_get_limits")] public static partial CudaEmulatorStatus GetLimits(out CudaEmulatorLimits limits);
    [LibraryImport(Library, EntryPoint = "mtkd_cuemu_kernel_count")] public static partial int KernelCount();
    [LibraryImport(Library, EntryPoint = "mtkd_cuemu_kernel_name")] private static partial nint KernelNamePtr(int index);

    [LibraryImport(Library, EntryPoint = "mtkd_cuemu_kernel_parameters", StringMarshalling = StringMarshalling.Utf8)]
    public static partial CudaEmulatorStatus KernelParameters(string name, int* sizes, int capacity, out int count);

    [LibraryImport(Library, EntryPoint = "mtkd_cuemu_set_max_dynamic_smem", StringMarshalling = StringMarshalling.Utf8)]
    public static partial CudaEmulatorStatus SetMaxDynamicShared(string name, int bytes);

    [LibraryImport(Library, EntryPoint = "mtkd_cuemu_get_max_dynamic_smem", StringMarshalling = StringMarshalling.Utf8)]
    public static partial CudaEmulatorStatus GetMaxDynamicShared(string name, out int bytes);

    [LibraryImport(Library, EntryPoint = "mtkd_cuemu_launch", StringMarshalling = StringMarshalling.Utf8)]
    public static partial CudaEmulatorStatus Launch(string name, uint gx, uint gy, uint gz, uint bx, uint by, uint bz,
        uint dynamicSharedBytes, void** args, int* argSizes, int argCount);

    [LibraryImport(Library, EntryPoint = "mtkd_cuemu_take_contract_failure")]
    public static partial CudaEmulatorStatus TakeContractFailure(out int line);

    [LibraryImport(Library, EntryPoint = "mtkd_cuemu_launch_with", StringMarshalling = StringMarshalling.Utf8)]
    public static partial CudaEmulatorStatus LaunchWith(string name, uint gx, uint gy, uint gz, uint bx, uint by, uint bz,
        uint dynamicSharedBytes, void** args, int* argSizes, int argCount, in CudaEmulatorLaunchOptions options);

    public static string LastError() => Marshal.PtrToStringUTF8(LastErrorPtr()) ?? "";

    public static string Version() => Marshal.PtrToStringUTF8(VersionPtr()) ?? "";

    public static string? KernelName(int index) => Marshal.PtrToStringUTF8(KernelNamePtr(index));

    public static IReadOnlyList<string> KernelNames() =>
        Enumerable.Range(0, KernelCount()).Select(i => KernelName(i) ?? "").ToArray();

    /// <summary>Parameter sizes of a registered kernel, or null when none has that name.</summary>
    public static int[]? ParameterSizes(string name)
    {
        if (KernelParameters(name, null, 0, out int count) != CudaEmulatorStatus.Ok) return null;
        var sizes = new int[count];
        fixed (int* p = sizes)
            if (KernelParameters(name, p, count, out _) != CudaEmulatorStatus.Ok) return null;
        return sizes;
    }
}
