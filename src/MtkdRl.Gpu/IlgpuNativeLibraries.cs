using System.Reflection;
using System.Runtime.InteropServices;

namespace MtkdRl.Gpu;

/// <summary>
/// Where ILGPU's native imports are found. ILGPU's CUDA binding asks for "cuda" ("nvcuda" on Windows), which
/// .NET expands to libcuda.so and friends but never to the driver's soname libcuda.so.1; a machine with only
/// the driver installed (no unversioned development link) would show ILGPU no CUDA device at all. A resolver on
/// ILGPU's assembly maps those names to the sonames first.
/// </summary>
public static class IlgpuNativeLibraries
{
    private static readonly object Gate = new();
    private static bool _attempted;
    private static bool _registered;

    /// <summary>
    /// The files to try, in order, for a library name ILGPU imports; empty for names left to the runtime's
    /// default probing (NVVM, which ILGPU loads only when asked to).
    /// </summary>
    public static IReadOnlyList<string> Candidates(string libraryName) => libraryName switch
    {
        "cuda" or "nvcuda" or "libcuda" or "libcuda.so" => ["libcuda.so.1", "libcuda.so"],
        _ => [],
    };

    /// <summary>
    /// Installs the resolver on ILGPU's assembly once per process (later calls do nothing). Returns whether ours
    /// is installed: false when something else had already registered one, whose probing then applies.
    /// </summary>
    public static bool EnsureRegistered()
    {
        lock (Gate)
        {
            if (_attempted) return _registered;
            _attempted = true;
            try
            {
                NativeLibrary.SetDllImportResolver(typeof(ILGPU.Context).Assembly, Resolve);
                _registered = true;
            }
            catch (InvalidOperationException)
            {
                _registered = false;
            }
            return _registered;
        }
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        foreach (var candidate in Candidates(libraryName))
            if (NativeLibrary.TryLoad(candidate, out var handle)) return handle;
        return 0; // the runtime's default probing
    }
}
