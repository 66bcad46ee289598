using MtkdRl.Core;

namespace MtkdRl.Native;

/// <summary>
/// Row-major single-precision GEMM on the CPU: C = alpha * op(A) * op(B) + beta * C, through OpenBLAS when the
/// library was built with it and OpenBLAS has kernels for this CPU as wide as the built-in ones, else the
/// built-in blocked GEMM (<see cref="Implementation"/> says which). beta = 0 never reads C.
/// </summary>
public sealed unsafe class NativeGemm : IDisposable
{
    private readonly NativeContextHandle _context;

    /// <param name="simd">SIMD level of the built-in GEMM (OpenBLAS picks its own kernels).</param>
    /// <param name="threads">Threads per call; 0 or less means every core.</param>
    public NativeGemm(NativeSimd simd = NativeSimd.Auto, int threads = 0)
    {
        _context = NativeContextHandle.Create(simd, threads);
        (Simd, Threads) = _context.Describe();
        Implementation = NativeMethods.ContextGemmInfo(_context);
    }

    /// <summary>Which GEMM <see cref="Sgemm"/> runs, e.g. "OpenBLAS 0.3.21 (SkylakeX kernels)".</summary>
    public string Implementation { get; }

    public NativeSimd Simd { get; }
    public int Threads { get; }

    /// <summary>True when <see cref="Sgemm"/> runs OpenBLAS rather than the built-in GEMM.</summary>
    public bool UsesOpenBlas => Implementation.StartsWith("OpenBLAS", StringComparison.Ordinal);

    /// <summary>
    /// C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C, row-major. A is stored [m,k] (or [k,m] when
    /// <paramref name="transA"/>) with row stride <paramref name="lda"/>; likewise B [k,n] (or [n,k]) and C [m,n].
    /// </summary>
    public void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc) =>
        Run(GemmChoice.Chosen, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    /// <summary>As <see cref="Sgemm"/>, always through OpenBLAS (BackendUnavailableException in a build without it).</summary>
    public void SgemmOpenBlas(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc) =>
        Run(GemmChoice.OpenBlas, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    /// <summary>As <see cref="Sgemm"/>, always on the built-in blocked GEMM.</summary>
    public void SgemmBlocked(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc) =>
        Run(GemmChoice.Blocked, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    /// <summary>C = A * B for dense row-major A [m,k], B [k,n], C [m,n].</summary>
    public void Multiply(int m, int n, int k, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c) =>
        Sgemm(false, false, m, n, k, 1f, a, Math.Max(1, k), b, Math.Max(1, n), 0f, c, Math.Max(1, n));

    public void Dispose() => _context.Dispose();

    private enum GemmChoice { Chosen, OpenBlas, Blocked }

    private void Run(GemmChoice choice, bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a,
        int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        if (m < 0 || n < 0 || k < 0) throw new MtkdInputException($"GEMM sizes must be >= 0 (got m={m}, n={n}, k={k})");
        CheckOperand("a", a.Length, transA ? k : m, transA ? m : k, lda, "lda");
        CheckOperand("b", b.Length, transB ? n : k, transB ? k : n, ldb, "ldb");
        CheckOperand("c", c.Length, m, n, ldc, "ldc");
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            int ta = transA ? 1 : 0, tb = transB ? 1 : 0;
            var status = choice switch
            {
                GemmChoice.Chosen => NativeMethods.Sgemm(_context, ta, tb, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc),
                GemmChoice.OpenBlas => NativeMethods.SgemmOpenBlas(_context, ta, tb, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc),
                _ => NativeMethods.SgemmBlocked(_context, ta, tb, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc),
            };
            NativeErrors.ThrowIfFailed(status);
        }
    }

    /// <summary>A stored [rows, cols] matrix with row stride ld needs (rows-1)*ld + cols elements.</summary>
    private static void CheckOperand(string name, int length, int rows, int cols, int ld, string ldName)
    {
        if (ld < Math.Max(1, cols))
            throw new MtkdInputException($"GEMM {ldName} = {ld} is smaller than the {cols} columns of {name} [{rows},{cols}]");
        long needed = rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;
        if (length < needed)
            throw new MtkdInputException($"GEMM {name} has {length} elements but [{rows},{cols}] with {ldName} = {ld} needs {needed}");
    }
}
