using MtkdRl.Core;
using MtkdRl.Native;

namespace MtkdRl.Training;

/// <summary>
/// Where layers run on the CPU: the native GEMM (threaded inside each call) and the thread count for the
/// managed loops around it (element-wise work split into one contiguous range per thread). One instance is
/// shared by every layer of a model; the caller owns and disposes it.
/// </summary>
public sealed class CpuCompute : IDisposable
{
    /// <summary>Below this many values per call, splitting a managed loop costs more than it saves.</summary>
    private const int MinValuesPerThread = 32 * 1024;

    /// <param name="threads">Threads for GEMM and managed loops; 0 or less means every core.</param>
    /// <param name="simd">SIMD level of the built-in GEMM (tests pin it to compare levels).</param>
    public CpuCompute(int threads = 0, NativeSimd simd = NativeSimd.Auto)
    {
        Gemm = new NativeGemm(simd, threads);
        Threads = Math.Max(1, Gemm.Threads);
    }

    public NativeGemm Gemm { get; }

    public int Threads { get; }

    /// <summary>
    /// Runs <paramref name="body"/>(start, end) over [0, count) cut into at most <see cref="Threads"/> ranges,
    /// on this thread alone when the work (count * valuesPerItem) is too small to share.
    /// </summary>
    public void For(int count, long valuesPerItem, Action<int, int> body)
    {
        if (count <= 0) return;
        int parts = (int)Math.Clamp(count * valuesPerItem / MinValuesPerThread, 1, Math.Min(Threads, count));
        if (parts == 1)
        {
            body(0, count);
            return;
        }
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, part =>
        {
            long start = (long)count * part / parts, end = (long)count * (part + 1) / parts;
            body((int)start, (int)end);
        });
    }

    public void Dispose() => Gemm.Dispose();

    internal static void CheckBatch(int batch, string layer)
    {
        if (batch <= 0) throw new MtkdInputException($"layer '{layer}': batch size must be positive (got {batch})");
    }
}
