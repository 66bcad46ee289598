using System.Diagnostics;

namespace MtkdRl.Core;

/// <summary>
/// Implemented by backends whose memory is not host RAM (GPUs): measures a device-to-device copy, the
/// ceiling a memory-bound kernel is compared with.
/// </summary>
public interface ICopyBandwidthProbe
{
    /// <summary>Bytes read plus bytes written per second of a large copy, in GB/s (1e9).</summary>
    double MeasureCopyGbps();
}

/// <summary>
/// The host's copy bandwidth: the roofline for CPU backends. A memory-bound kernel that reads and writes its
/// minimum bytes cannot beat a plain copy of the same size on the same cores, so GB/s divided by this is the
/// fraction of the achievable rate (above 1 only when caches hold part of the working set).
/// </summary>
public static class HostCopyBandwidth
{
    private static readonly Dictionary<int, double> Cached = new();
    private static readonly object Gate = new();

    /// <summary>Median of several copies of a buffer far larger than the caches, on every core. Cached per process.</summary>
    public static double MeasureGbps() => MeasureGbps(Environment.ProcessorCount);

    /// <summary>
    /// The same copy split over <paramref name="threads"/> threads (every core when 0 or less), so a kernel run with a
    /// team of that size is compared with what that many threads can copy. Cached per process and thread count.
    /// </summary>
    public static double MeasureGbps(int threads)
    {
        int parts = threads > 0 ? threads : Environment.ProcessorCount;
        lock (Gate)
        {
            if (!Cached.TryGetValue(parts, out double gbps)) Cached[parts] = gbps = Measure(bytes: 256L << 20, repeats: 7, parts);
            return gbps;
        }
    }

    private static double Measure(long bytes, int repeats, int parts)
    {
        var src = GC.AllocateUninitializedArray<byte>((int)bytes);
        var dst = GC.AllocateUninitializedArray<byte>((int)bytes);
        Array.Fill(src, (byte)1);
        Array.Fill(dst, (byte)2); // touch every page before timing
        long chunk = bytes / parts;
        var seconds = new double[repeats];
        for (int r = 0; r < repeats; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, p =>
            {
                long start = p * chunk, len = p == parts - 1 ? bytes - start : chunk;
                src.AsSpan((int)start, (int)len).CopyTo(dst.AsSpan((int)start, (int)len));
            });
            seconds[r] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }
        Array.Sort(seconds);
        return 2.0 * bytes / seconds[repeats / 2] / 1e9;
    }
}
