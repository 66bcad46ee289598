using System.Runtime.InteropServices;

namespace MtkdRl.Native;

/// <summary>
/// The C ABI of libmtkd_native (native/include/mtkd.h), one method per export. Calls return a
/// <see cref="MtkdStatus"/>; on failure <see cref="LastError"/> says why. Higher-level code should use
/// <see cref="NativeBackend"/>, <see cref="NativeGemm"/> and <see cref="NativeInfo"/>, which turn statuses into
/// exceptions; these are public so tests and tools can reach the boundary itself.
/// </summary>
public static unsafe partial class NativeMethods
{
    /// <summary>The name P/Invoke resolves through <see cref="NativeLibraryLoader"/>.</summary>
    public const string LibraryName = "mtkd_native";

    /// <summary>MTKD_ABI_VERSION these declarations match.</summary>
    public const int AbiVersion = 2;

    static NativeMethods() => NativeLibraryLoader.InstallResolver();

    // ---- library ----

    /// <summary>The reason of the last failed call on this thread ("" after a successful one).</summary>
    public static string LastError() => Marshal.PtrToStringUTF8((nint)mtkd_last_error()) ?? "";
    public static string Version() => Marshal.PtrToStringUTF8((nint)mtkd_version()) ?? "";
    public static string BuildInfo() => Marshal.PtrToStringUTF8((nint)mtkd_build_info()) ?? "";
    public static string GemmInfo() => Marshal.PtrToStringUTF8((nint)mtkd_gemm_info()) ?? "";

    [LibraryImport(LibraryName, EntryPoint = "mtkd_abi_version")]
    public static partial int AbiVersionOfLibrary();

    [LibraryImport(LibraryName, EntryPoint = "mtkd_cpu_features")]
    public static partial NativeCpuFeatures CpuFeatures();

    // ---- contexts ----

    [LibraryImport(LibraryName, EntryPoint = "mtkd_context_create")]
    public static partial MtkdStatus ContextCreate(NativeSimd simd, int threads, out NativeContextHandle context);

    [LibraryImport(LibraryName, EntryPoint = "mtkd_context_create_limited")]
    public static partial MtkdStatus ContextCreateLimited(NativeSimd simd, int threads, NativeCpuFeatures allowed,
        out NativeContextHandle context);

    /// <summary>Raw form, for tests of the null-pointer checks.</summary>
    [LibraryImport(LibraryName, EntryPoint = "mtkd_context_create")]
    public static partial MtkdStatus ContextCreate(NativeSimd simd, int threads, nint* context);

    [LibraryImport(LibraryName, EntryPoint = "mtkd_context_destroy")]
    internal static partial void ContextDestroy(nint context);

    [LibraryImport(LibraryName, EntryPoint = "mtkd_context_describe")]
    public static partial MtkdStatus ContextDescribe(NativeContextHandle context, out NativeSimd simd, out int threads);

    /// <summary>Which GEMM mtkd_sgemm runs for this context, in words.</summary>
    public static string ContextGemmInfo(NativeContextHandle context) =>
        Marshal.PtrToStringUTF8((nint)mtkd_context_gemm_info(context)) ?? "";

    [LibraryImport(LibraryName)]
    private static partial byte* mtkd_context_gemm_info(NativeContextHandle context);

    // ---- the fused distillation op ----

    [LibraryImport(LibraryName, EntryPoint = "mtkd_distill_stats")]
    public static partial MtkdStatus DistillStats(NativeContextHandle context, MtkdShape* shape, MtkdInputs* inputs,
        MtkdHyper* hyper, MtkdStats* output);

    [LibraryImport(LibraryName, EntryPoint = "mtkd_distill_gradient")]
    public static partial MtkdStatus DistillGradient(NativeContextHandle context, MtkdShape* shape, MtkdInputs* inputs,
        MtkdHyper* hyper, MtkdStats* stats, MtkdGrads* output);

    [LibraryImport(LibraryName, EntryPoint = "mtkd_distill_fused")]
    public static partial MtkdStatus DistillFused(NativeContextHandle context, MtkdShape* shape, MtkdInputs* inputs,
        MtkdHyper* hyper, MtkdStats* outputStats, MtkdGrads* outputGrads);

    // ---- GEMM ----

    [LibraryImport(LibraryName, EntryPoint = "mtkd_sgemm")]
    public static partial MtkdStatus Sgemm(NativeContextHandle context, int transA, int transB, int m, int n, int k,
        float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);

    [LibraryImport(LibraryName, EntryPoint = "mtkd_sgemm_openblas")]
    public static partial MtkdStatus SgemmOpenBlas(NativeContextHandle context, int transA, int transB, int m, int n, int k,
        float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);

    [LibraryImport(LibraryName, EntryPoint = "mtkd_sgemm_blocked")]
    public static partial MtkdStatus SgemmBlocked(NativeContextHandle context, int transA, int transB, int m, int n, int k,
        float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);

    // ---- building blocks ----

    [LibraryImport(LibraryName, EntryPoint = "mtkd_vector_exp")]
    public static partial MtkdStatus VectorExp(NativeContextHandle context, long n, float* x, float* y);

    /// <summary>y = exp(x) element-wise with the kernels' vectorised exp (spans of equal length).</summary>
    public static MtkdStatus VectorExp(NativeContextHandle context, ReadOnlySpan<float> x, Span<float> y) =>
        Elementwise(context, x, y, &VectorExp);

    [LibraryImport(LibraryName, EntryPoint = "mtkd_vector_log1p")]
    public static partial MtkdStatus VectorLog1p(NativeContextHandle context, long n, float* x, float* y);

    /// <summary>y = log1p(x) element-wise with the catalog's vectorised log1p, for x in (-1, 1] (spans of equal length).</summary>
    public static MtkdStatus VectorLog1p(NativeContextHandle context, ReadOnlySpan<float> x, Span<float> y) =>
        Elementwise(context, x, y, &VectorLog1p);

    [LibraryImport(LibraryName, EntryPoint = "mtkd_vector_expm1")]
    public static partial MtkdStatus VectorExpm1(NativeContextHandle context, long n, float* x, float* y);

    /// <summary>y = exp(x) - 1 element-wise with the catalog's vectorised expm1, for x in [-80, 80] (spans of equal length).</summary>
    public static MtkdStatus VectorExpm1(NativeContextHandle context, ReadOnlySpan<float> x, Span<float> y) =>
        Elementwise(context, x, y, &VectorExpm1);

    private static MtkdStatus Elementwise(NativeContextHandle context, ReadOnlySpan<float> x, Span<float> y,
        delegate*<NativeContextHandle, long, float*, float*, MtkdStatus> op)
    {
        if (y.Length != x.Length) throw new ArgumentException($"y has {y.Length} elements, x has {x.Length}", nameof(y));
        fixed (float* px = x)
        fixed (float* py = y)
            return op(context, x.Length, px, py);
    }

    [LibraryImport(LibraryName)]
    private static partial byte* mtkd_last_error();

    [LibraryImport(LibraryName)]
    private static partial byte* mtkd_version();

    [LibraryImport(LibraryName)]
    private static partial byte* mtkd_build_info();

    [LibraryImport(LibraryName)]
    private static partial byte* mtkd_gemm_info();
}
