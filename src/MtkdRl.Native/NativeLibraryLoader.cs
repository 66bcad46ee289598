using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.InteropServices;
using MtkdRl.Core;

namespace MtkdRl.Native;

/// <summary>
/// Finds libmtkd_native next to the assemblies (where the build copies it) and loads it once for every
/// P/Invoke of this assembly. A missing, unloadable or stale library becomes a
/// <see cref="BackendUnavailableException"/> saying how to build it, never a DllNotFoundException.
/// </summary>
public static class NativeLibraryLoader
{
    private const string BuildHint =
        "build with `dotnet build MtkdRl.Native.sln -c Release` (it runs CMake on native/ and copies the library next to the assemblies)";

    private static readonly Lazy<nint> Loaded = new(() => Load(DefaultDirectories()));

    /// <summary>The library's file name on this operating system.</summary>
    public static string FileName { get; } =
        OperatingSystem.IsWindows() ? "mtkd_native.dll" : OperatingSystem.IsMacOS() ? "libmtkd_native.dylib" : "libmtkd_native.so";

    /// <summary>Where the library is looked for: the application's base directory, then this assembly's.</summary>
    [UnconditionalSuppressMessage("SingleFile", "IL3000", Justification =
        "In a single-file app the location is empty and only the base directory is searched, which is where publish puts the library.")]
    public static IReadOnlyList<string> DefaultDirectories()
    {
        var dirs = new List<string> { AppContext.BaseDirectory };
        string? own = Path.GetDirectoryName(typeof(NativeLibraryLoader).Assembly.Location);
        if (!string.IsNullOrEmpty(own)) dirs.Add(own);
        return dirs.Select(Path.GetFullPath).Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>Loads the library (once per process); throws <see cref="BackendUnavailableException"/> with the reason.</summary>
    public static void EnsureLoaded()
    {
        _ = Loaded.Value;
    }

    /// <summary>
    /// Loads the library from the first of <paramref name="directories"/> that holds it and checks its ABI version.
    /// Exposed so the failure messages can be tested on directories of one's choosing.
    /// </summary>
    public static nint Load(IEnumerable<string> directories)
    {
        var searched = directories.ToList();
        foreach (string dir in searched)
        {
            string path = Path.Combine(dir, FileName);
            if (!File.Exists(path)) continue;
            nint handle;
            try
            {
                handle = NativeLibrary.Load(path);
            }
            catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
            {
                throw new BackendUnavailableException($"{FileName} at {path} could not be loaded ({OneLine(e.Message)}): {BuildHint}");
            }
            CheckAbi(handle, path);
            return handle;
        }
        string where = searched.Count == 0 ? "(no directories)" : string.Join(", ", searched);
        throw new BackendUnavailableException($"{FileName} was not found in {where}: {BuildHint}");
    }

    internal static void InstallResolver() =>
        NativeLibrary.SetDllImportResolver(typeof(NativeLibraryLoader).Assembly, Resolve);

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) =>
        name == NativeMethods.LibraryName ? Loaded.Value : 0;

    private static unsafe void CheckAbi(nint handle, string path)
    {
        if (!NativeLibrary.TryGetExport(handle, "mtkd_abi_version", out nint export))
            throw new BackendUnavailableException($"{path} has no mtkd_abi_version export (a stale build?): {BuildHint}");
        int version = ((delegate* unmanaged<int>)export)();
        if (version != NativeMethods.AbiVersion)
            throw new BackendUnavailableException(
                $"{path} has ABI version {version}, these bindings need {NativeMethods.AbiVersion}: {BuildHint}");
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim();
}
