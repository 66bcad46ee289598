using System.Reflection;
using System.Runtime.InteropServices;
using MtkdRl.Core;

namespace MtkdRl.Gpu.Cuda;

/// <summary>
/// The part of the CUDA driver API the cuda backend needs, bound by hand (no CUDA wrapper package is used).
/// Every wrapper checks the CUresult and throws a <see cref="CudaException"/> naming the call and the
/// error. The library is resolved here, not by the runtime's default probing, so a machine without the
/// NVIDIA driver gets a one-line <see cref="BackendUnavailableException"/> instead of DllNotFoundException.
/// The caller makes the right context current (<see cref="CudaDriverTarget"/> binds ILGPU's).
/// </summary>
internal static unsafe partial class CudaDriver
{
    /// <summary>
    /// The library name in the imports below: the driver's soname, which <see cref="Resolve"/> maps to the
    /// handle <see cref="EnsureLoaded"/> opened (and which the runtime's own probing would also find).
    /// </summary>
    private const string Library = "libcuda.so.1";

    /// <summary>Where the driver library is looked for, in order.</summary>
    public static readonly IReadOnlyList<string> LibraryCandidates = ["libcuda.so.1", "libcuda.so"];

    // CUjit_option, CUfunction_attribute and CUdevice_attribute values used here (cuda.h).
    private const int JitInfoLogBuffer = 3, JitInfoLogBufferSize = 4, JitErrorLogBuffer = 5, JitErrorLogBufferSize = 6,
        JitLogVerbose = 12;
    public const int FuncAttributeSharedSizeBytes = 1, FuncAttributeLocalSizeBytes = 3, FuncAttributeNumRegs = 4,
        FuncAttributeMaxDynamicSharedSizeBytes = 8;
    public const int DeviceAttributeMultiprocessorCount = 16, DeviceAttributeMaxSharedMemoryPerBlockOptin = 97;

    /// <summary>CUDA_ERROR_NOT_FOUND.</summary>
    private const int ErrorNotFound = 500;

    private static readonly object LoadGate = new();
    private static nint _handle;
    private static BackendUnavailableException? _loadFailure;

    static CudaDriver()
    {
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(CudaDriver).Assembly, Resolve);
        }
        catch (InvalidOperationException)
        {
            // This assembly already has a resolver; the imports then bind by soname through the default probing.
        }
    }

    /// <summary>
    /// Loads the first library of <paramref name="candidates"/> that exists, or throws
    /// <see cref="BackendUnavailableException"/> naming what was looked for.
    /// </summary>
    public static nint LoadLibrary(IReadOnlyList<string> candidates)
    {
        foreach (var name in candidates)
            if (NativeLibrary.TryLoad(name, out var handle)) return handle;
        throw new BackendUnavailableException(
            $"the NVIDIA driver library was not found ({string.Join(" or ", candidates)}); the cuda backend needs a machine with an NVIDIA GPU and its driver");
    }

    /// <summary>True once the driver library is loaded in this process.</summary>
    public static bool IsLoaded => Volatile.Read(ref _handle) != 0;

    /// <summary>Loads the driver library once; throws <see cref="BackendUnavailableException"/> when it is missing.</summary>
    public static void EnsureLoaded()
    {
        if (IsLoaded) return;
        lock (LoadGate)
        {
            if (_handle != 0) return;
            if (_loadFailure is not null) throw new BackendUnavailableException(_loadFailure.Message);
            try
            {
                Volatile.Write(ref _handle, LoadLibrary(LibraryCandidates));
            }
            catch (BackendUnavailableException e)
            {
                _loadFailure = e;
                throw;
            }
        }
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != Library) return 0;
        try
        {
            EnsureLoaded();
            return _handle;
        }
        catch (BackendUnavailableException)
        {
            return 0;
        }
    }

    // ---------------------------------------------------------------- errors

    /// <summary>Throws <see cref="CudaException"/> when <paramref name="status"/> is not CUDA_SUCCESS.</summary>
    public static void Check(int status, string call)
    {
        if (status != 0) throw Error(status, call);
    }

    public static CudaException Error(int status, string call, string? detail = null)
    {
        var (name, description) = Describe(status);
        return new CudaException(call, status, name, description, detail);
    }

    /// <summary>The CUresult's name and text: from the driver when it is loaded and knows the code, else from <see cref="CudaErrors"/>.</summary>
    public static (string Name, string Description) Describe(int status)
    {
        if (IsLoaded && cuGetErrorName(status, out var namePtr) == 0 && namePtr != 0)
        {
            string name = Marshal.PtrToStringUTF8(namePtr) ?? "";
            string description = cuGetErrorString(status, out var textPtr) == 0 && textPtr != 0
                ? Marshal.PtrToStringUTF8(textPtr) ?? ""
                : "";
            if (name.Length > 0) return (name, description.Length > 0 ? description : "no description");
        }
        CudaErrors.TryDescribe(status, out var knownName, out var knownDescription);
        return (knownName, knownDescription);
    }

    // ---------------------------------------------------------------- checked wrappers

    public static void Init()
    {
        EnsureLoaded();
        Check(cuInit(0), "cuInit");
    }

    public static int DriverVersion()
    {
        EnsureLoaded();
        Check(cuDriverGetVersion(out int version), "cuDriverGetVersion");
        return version;
    }

    public static nint GetCurrentContext()
    {
        EnsureLoaded();
        Check(cuCtxGetCurrent(out var context), "cuCtxGetCurrent");
        return context;
    }

    public static void SetCurrentContext(nint context)
    {
        EnsureLoaded();
        Check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
    }

    public static int GetContextDevice()
    {
        EnsureLoaded();
        Check(cuCtxGetDevice(out int device), "cuCtxGetDevice");
        return device;
    }

    public static int GetDeviceAttribute(int attribute, int device)
    {
        EnsureLoaded();
        Check(cuDeviceGetAttribute(out int value, attribute, device), "cuDeviceGetAttribute");
        return value;
    }

    /// <summary>
    /// JIT-compiles a PTX image (null-terminated) into a module of the current context. A failure carries
    /// the JIT's error log; on success the info log (registers, spills per kernel) is returned.
    /// </summary>
    public static nint LoadModule(ReadOnlySpan<byte> ptx, string what, out string infoLog)
    {
        EnsureLoaded();
        if (ptx.IsEmpty || ptx[^1] != 0) throw new ArgumentException("PTX image must end with a NUL byte", nameof(ptx));
        const int logSize = 16 * 1024;
        byte* errorLog = stackalloc byte[logSize];
        byte* info = stackalloc byte[logSize];
        errorLog[0] = 0;
        info[0] = 0;
        int* options = stackalloc int[] { JitErrorLogBuffer, JitErrorLogBufferSize, JitInfoLogBuffer, JitInfoLogBufferSize, JitLogVerbose };
        // Sizes and flags travel as pointer-sized integers; the driver writes the used log sizes back.
        nint* values = stackalloc nint[] { (nint)errorLog, logSize, (nint)info, logSize, 1 };
        int status;
        nint module;
        fixed (byte* image = ptx)
            status = cuModuleLoadDataEx(out module, image, 5, options, values);
        infoLog = ReadLog(info, values[3], logSize);
        if (status != 0)
        {
            string log = ReadLog(errorLog, values[1], logSize);
            throw Error(status, "cuModuleLoadDataEx", $"{what}: {(log.Length > 0 ? OneLine(log) : "the JIT left no log")}");
        }
        return module;
    }

    private static string ReadLog(byte* buffer, nint reported, int capacity)
    {
        int n = (int)Math.Clamp(reported, 0, capacity);
        var text = new ReadOnlySpan<byte>(buffer, n);
        int end = text.IndexOf((byte)0);
        return System.Text.Encoding.UTF8.GetString(end >= 0 ? text[..end] : text).Trim();
    }

    private static string OneLine(string log) => string.Join(" | ", log.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>Unloads a module; false instead of an exception, for use from a finalizer-safe release.</summary>
    public static bool TryUnloadModule(nint module, nint context)
    {
        if (!IsLoaded) return false;
        if (cuCtxPushCurrent(context) != 0) return false;
        bool ok = cuModuleUnload(module) == 0;
        cuCtxPopCurrent(out _);
        return ok;
    }

    public static nint GetFunction(nint module, string name)
    {
        EnsureLoaded();
        int status = cuModuleGetFunction(out var function, module, name);
        if (status != 0) throw Error(status, "cuModuleGetFunction", $"kernel '{name}'");
        return function;
    }

    public static int GetFunctionAttribute(nint function, int attribute, string kernel)
    {
        EnsureLoaded();
        int status = cuFuncGetAttribute(out int value, attribute, function);
        if (status != 0) throw Error(status, "cuFuncGetAttribute", $"kernel '{kernel}', attribute {attribute}");
        return value;
    }

    public static void SetFunctionAttribute(nint function, int attribute, int value, string kernel)
    {
        EnsureLoaded();
        int status = cuFuncSetAttribute(function, attribute, value);
        if (status != 0) throw Error(status, "cuFuncSetAttribute", $"kernel '{kernel}', attribute {attribute} = {value}");
    }

    /// <summary>How many blocks of this size and shared memory one multiprocessor holds at once.</summary>
    public static int OccupancyBlocksPerMultiprocessor(nint function, string kernel, int threads, int sharedBytes)
    {
        EnsureLoaded();
        int status = cuOccupancyMaxActiveBlocksPerMultiprocessor(out int blocks, function, threads, (nuint)sharedBytes);
        if (status != 0) throw Error(status, "cuOccupancyMaxActiveBlocksPerMultiprocessor", $"kernel '{kernel}'");
        return blocks;
    }

    public static void LaunchKernel(nint function, string kernel, uint gridX, uint blockX, uint sharedBytes, nint stream, void** arguments)
    {
        EnsureLoaded();
        int status = cuLaunchKernel(function, gridX, 1, 1, blockX, 1, 1, sharedBytes, stream, arguments, null);
        if (status != 0)
            throw Error(status, "cuLaunchKernel", $"kernel '{kernel}', grid {gridX}, block {blockX}, {sharedBytes} bytes of shared memory");
    }

    public static void StreamSynchronize(nint stream)
    {
        EnsureLoaded();
        Check(cuStreamSynchronize(stream), "cuStreamSynchronize");
    }

    /// <summary>The device address of a module's global variable, or 0 when the module has none of that name.</summary>
    public static nint TryGetGlobal(nint module, string name)
    {
        EnsureLoaded();
        int status = cuModuleGetGlobal(out var address, out _, module, name);
        if (status == ErrorNotFound) return 0;
        if (status != 0) throw Error(status, "cuModuleGetGlobal", $"global '{name}'");
        return address;
    }

    /// <summary>Reads one int of device memory (synchronous, after the work queued on the null stream).</summary>
    public static int ReadInt32(nint address)
    {
        EnsureLoaded();
        int value;
        Check(cuMemcpyDtoH(&value, address, sizeof(int)), "cuMemcpyDtoH");
        return value;
    }

    /// <summary>Sets one int of device memory.</summary>
    public static void WriteInt32(nint address, int value)
    {
        EnsureLoaded();
        Check(cuMemsetD32(address, (uint)value, 1), "cuMemsetD32");
    }

    public static nint CreateEvent()
    {
        EnsureLoaded();
        Check(cuEventCreate(out var e, 0), "cuEventCreate");
        return e;
    }

    public static void RecordEvent(nint e, nint stream) => Check(cuEventRecord(e, stream), "cuEventRecord");

    public static void SynchronizeEvent(nint e) => Check(cuEventSynchronize(e), "cuEventSynchronize");

    public static float ElapsedMilliseconds(nint start, nint end)
    {
        Check(cuEventElapsedTime(out float ms, start, end), "cuEventElapsedTime");
        return ms;
    }

    public static bool TryDestroyEvent(nint e) => IsLoaded && cuEventDestroy(e) == 0;

    // ---------------------------------------------------------------- raw imports (CUresult = int)

    [LibraryImport(Library)] private static partial int cuInit(uint flags);
    [LibraryImport(Library)] private static partial int cuDriverGetVersion(out int version);
    [LibraryImport(Library)] private static partial int cuGetErrorName(int error, out nint name);
    [LibraryImport(Library)] private static partial int cuGetErrorString(int error, out nint text);
    [LibraryImport(Library)] private static partial int cuCtxGetCurrent(out nint context);
    [LibraryImport(Library)] private static partial int cuCtxSetCurrent(nint context);
    [LibraryImport(Library, EntryPoint = "cuCtxPushCurrent_v2")] private static partial int cuCtxPushCurrent(nint context);
    [LibraryImport(Library, EntryPoint = "cuCtxPopCurrent_v2")] private static partial int cuCtxPopCurrent(out nint context);
    [LibraryImport(Library)] private static partial int cuCtxGetDevice(out int device);
    [LibraryImport(Library)] private static partial int cuDeviceGetAttribute(out int value, int attribute, int device);
    [LibraryImport(Library)] private static partial int cuModuleLoadDataEx(out nint module, byte* image, uint numOptions, int* options, nint* optionValues);
    [LibraryImport(Library)] private static partial int cuModuleUnload(nint module);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] private static partial int cuModuleGetFunction(out nint function, nint module, string name);
    [LibraryImport(Library)] private static partial int cuFuncGetAttribute(out int value, int attribute, nint function);
    [LibraryImport(Library)] private static partial int cuFuncSetAttribute(nint function, int attribute, int value);
    [LibraryImport(Library)]
    private static partial int cuLaunchKernel(nint function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
        uint sharedBytes, nint stream, void** kernelParams, void** extra);
    [LibraryImport(Library)] private static partial int cuOccupancyMaxActiveBlocksPerMultiprocessor(out int blocks, nint function, int blockSize, nuint dynamicSharedBytes);
    [LibraryImport(Library)] private static partial int cuStreamSynchronize(nint stream);
    [LibraryImport(Library, EntryPoint = "cuModuleGetGlobal_v2", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int cuModuleGetGlobal(out nint address, out nuint bytes, nint module, string name);
    [LibraryImport(Library, EntryPoint = "cuMemcpyDtoH_v2")] private static partial int cuMemcpyDtoH(void* destination, nint source, nuint bytes);
    [LibraryImport(Library, EntryPoint = "cuMemsetD32_v2")] private static partial int cuMemsetD32(nint destination, uint value, nuint count);
    [LibraryImport(Library)] private static partial int cuEventCreate(out nint e, uint flags);
    [LibraryImport(Library, EntryPoint = "cuEventDestroy_v2")] private static partial int cuEventDestroy(nint e);
    [LibraryImport(Library)] private static partial int cuEventRecord(nint e, nint stream);
    [LibraryImport(Library)] private static partial int cuEventSynchronize(nint e);
    [LibraryImport(Library)] private static partial int cuEventElapsedTime(out float milliseconds, nint start, nint end);
}
