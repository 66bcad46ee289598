using MtkdRl.Core;
using MtkdRl.Native;

namespace MtkdRl.Training;

/// <summary>
/// Where layers run on the CPU: one single-threaded native GEMM context per worker thread, and the split of
/// every parallel loop (GEMMs included) into one contiguous range per worker on the .NET thread pool.
/// <para>
/// All threading is managed: a GEMM is cut along its larger output dimension and each piece runs on one
/// worker's context. Mixing the native library's OpenMP teams with managed parallel loops made the two
/// pools fight over the cores (OpenMP threads spin after each GEMM while the managed workers wait for a
/// core), tripling step times on two cores; one pool avoids that.
/// </para>
/// Work is always cut the same way for a given thread count and batch, and partial sums are combined in a
/// fixed order, so results are bit-for-bit reproducible for a given <see cref="Threads"/> (and agree to
/// rounding across thread counts). One instance is shared by every layer of a model; the caller owns and
/// disposes it.
/// </summary>
public sealed class CpuCompute : IDisposable
{
    /// <summary>Below this many values per call, splitting a managed loop costs more than it saves.</summary>
    private const int MinValuesPerThread = 32 * 1024;

    /// <summary>Below this many multiply-adds a GEMM runs on one worker.</summary>
    private const long MinGemmWorkPerThread = 1 << 18;

    private readonly NativeGemm[] _workers;

    /// <param name="threads">Worker threads for GEMM and managed loops; 0 or less means every core.</param>
    /// <param name="simd">SIMD level of the built-in GEMM (tests pin it to compare levels).</param>
    public CpuCompute(int threads = 0, NativeSimd simd = NativeSimd.Auto)
    {
        Threads = threads > 0 ? threads : Environment.ProcessorCount;
        _workers = new NativeGemm[Threads];
        try
        {
            for (int i = 0; i < Threads; i++) _workers[i] = new NativeGemm(simd, threads: 1);
        }
        catch
        {
            Dispose();
            throw;
        }
        GemmImplementation = _workers[0].Implementation;
    }

    public int Threads { get; }

    /// <summary>Which GEMM runs, e.g. "built-in AVX-512 GEMM" or "OpenBLAS 0.3.21 (SkylakeX kernels)".</summary>
    public string GemmImplementation { get; }

    /// <summary>The single-threaded GEMM of worker <paramref name="worker"/> (for code that splits its own work).</summary>
    public NativeGemm WorkerGemm(int worker) => _workers[worker];

    /// <summary>
    /// Runs <paramref name="body"/>(start, end) over [0, count) cut into at most <see cref="Threads"/> ranges,
    /// on this thread alone when the work (count * valuesPerItem) is too small to share.
    /// </summary>
    public void For(int count, long valuesPerItem, Action<int, int> body) =>
        ForWorkers(count, Math.Clamp(count * valuesPerItem / MinValuesPerThread, 1, Threads), (_, start, end) => body(start, end));

    /// <summary>
    /// Runs <paramref name="body"/>(worker, start, end) over [0, count) cut into at most
    /// <paramref name="maxParts"/> (and <see cref="Threads"/>) contiguous ranges; each range gets a distinct
    /// worker index in [0, Threads), so the body may use that worker's GEMM and scratch buffers.
    /// </summary>
    public void ForWorkers(int count, long maxParts, Action<int, int, int> body)
    {
        if (count <= 0) return;
        int parts = (int)Math.Clamp(maxParts, 1, Math.Min(Threads, count));
        if (parts == 1)
        {
            body(0, 0, count);
            return;
        }
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, part =>
        {
            long start = (long)count * part / parts, end = (long)count * (part + 1) / parts;
            body(part, (int)start, (int)end);
        });
    }

    /// <summary>
    /// Row-major C[m,n] = alpha op(A)[m,k] op(B)[k,n] + beta C, with each matrix given as an array, the offset
    /// of its first element and its row stride (as <see cref="NativeGemm.Sgemm"/>). The larger of m and n is
    /// cut among the workers.
    /// </summary>
    public void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, float[] a, int aOffset, int lda,
        float[] b, int bOffset, int ldb, float beta, float[] c, int cOffset, int ldc)
    {
        long work = (long)m * n * Math.Max(k, 1);
        bool splitRows = m >= n;
        int dim = splitRows ? m : n, align = splitRows ? 8 : 16;
        int blocks = (dim + align - 1) / align;
        int parts = (int)Math.Clamp(work / MinGemmWorkPerThread, 1, Math.Min(Threads, blocks));
        ForWorkers(blocks, parts, (worker, first, last) =>
        {
            int from = first * align, to = Math.Min(dim, last * align);
            var gemm = _workers[worker];
            if (splitRows)
            {
                int aAt = aOffset + (transA ? from : from * lda);
                gemm.Sgemm(transA, transB, to - from, n, k, alpha, a.AsSpan(aAt), lda, b.AsSpan(bOffset), ldb, beta,
                    c.AsSpan(cOffset + from * ldc), ldc);
            }
            else
            {
                int bAt = bOffset + (transB ? from * ldb : from);
                gemm.Sgemm(transA, transB, m, to - from, k, alpha, a.AsSpan(aOffset), lda, b.AsSpan(bAt), ldb, beta,
                    c.AsSpan(cOffset + from), ldc);
            }
        });
    }

    public void Dispose()
    {
        foreach (var gemm in _workers) gemm?.Dispose();
    }

    internal static void CheckBatch(int batch, string layer)
    {
        if (batch <= 0) throw new MtkdInputException($"layer '{layer}': batch size must be positive (got {batch})");
    }
}
