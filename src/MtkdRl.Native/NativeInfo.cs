namespace MtkdRl.Native;

/// <summary>What the native library is and what it runs on, for `mtkd info` and backend descriptions.</summary>
public static class NativeInfo
{
    /// <summary>The library's version, e.g. "0.1.0".</summary>
    public static string Version => Loaded(NativeMethods.Version);

    /// <summary>Compiler, build type, OpenMP, SIMD levels compiled and the GEMM in use.</summary>
    public static string BuildInfo => Loaded(NativeMethods.BuildInfo);

    /// <summary>OpenBLAS's own configuration string, or a note that the build has only the built-in GEMM.</summary>
    public static string GemmInfo => Loaded(NativeMethods.GemmInfo);

    /// <summary>True when the library was built with OpenBLAS (whether a context uses it: <see cref="NativeGemm.Implementation"/>).</summary>
    public static bool HasOpenBlas => GemmInfo.StartsWith("OpenBLAS", StringComparison.Ordinal);

    /// <summary>A context's GEMM in two or three words: "OpenBLAS 0.3.21" or "built-in AVX-512 GEMM".</summary>
    public static string ShortGemm(string contextGemmInfo)
    {
        int cut = contextGemmInfo.IndexOf(" (", StringComparison.Ordinal);
        return cut < 0 ? contextGemmInfo : contextGemmInfo[..cut];
    }

    public static NativeCpuFeatures CpuFeatures => Loaded(NativeMethods.CpuFeatures);

    /// <summary>Human name of a SIMD level.</summary>
    public static string Describe(NativeSimd simd) => simd switch
    {
        NativeSimd.Avx512 => "AVX-512",
        NativeSimd.Avx2 => "AVX2+FMA",
        NativeSimd.Scalar => "scalar",
        _ => "auto",
    };

    /// <summary>Whether this CPU can run a SIMD level.</summary>
    public static bool Supports(NativeSimd simd) => simd switch
    {
        NativeSimd.Avx512 => CpuFeatures.HasFlag(NativeCpuFeatures.Avx512),
        NativeSimd.Avx2 => CpuFeatures.HasFlag(NativeCpuFeatures.Avx2Fma),
        _ => true,
    };

    private static T Loaded<T>(Func<T> read)
    {
        NativeLibraryLoader.EnsureLoaded();
        return read();
    }
}
