namespace MtkdRl.Native;

/// <summary>What the native library is and what it runs on, for `mtkd info` and backend descriptions.</summary>
public static class NativeInfo
{
    /// <summary>The library's version, e.g. "0.1.0".</summary>
    public static string Version => Loaded(NativeMethods.Version);

    /// <summary>Compiler, build type, OpenMP, SIMD levels compiled and the GEMM in use.</summary>
    public static string BuildInfo => Loaded(NativeMethods.BuildInfo);

    /// <summary>OpenBLAS's own configuration string, or a note that the built-in GEMM is used.</summary>
    public static string GemmInfo => Loaded(NativeMethods.GemmInfo);

    /// <summary>True when mtkd_sgemm runs OpenBLAS.</summary>
    public static bool UsesOpenBlas => GemmInfo.StartsWith("OpenBLAS", StringComparison.Ordinal);

    /// <summary>"OpenBLAS 0.3.21" or "built-in GEMM".</summary>
    public static string GemmSummary =>
        UsesOpenBlas ? string.Join(' ', GemmInfo.Split(' ', StringSplitOptions.RemoveEmptyEntries).Take(2)) : "built-in GEMM";

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
