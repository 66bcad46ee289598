using MtkdRl.Gpu.Cuda;

namespace MtkdRl.Gpu.Timing;

/// <summary>
/// The device memory's copy bandwidth, the roofline of a memory-bound kernel on it: a device-to-device copy of
/// one buffer into another, timed by the device's own clock (CUDA events on a GPU), median of several copies.
/// </summary>
internal static class DeviceCopyBandwidth
{
    /// <summary>What a GPU backend copies: 1 GiB, far beyond every cache (the H200's L2 is 60 MiB).</summary>
    public const long GpuBytes = 1L << 30;

    public const int Repeats = 7;

    /// <summary>Bytes read plus bytes written per second, in GB/s (1e9), of copies of <paramref name="bytes"/> bytes.</summary>
    public static double MeasureGbps(IKernelTarget target, long bytes, int repeats = Repeats)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 4L);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        long floats = bytes / sizeof(float);
        using var source = target.Allocate<float>(floats);
        using var destination = target.Allocate<float>(floats);
        source.FillBytes(1);
        destination.FillBytes(2); // every page touched before timing
        source.CopyTo(destination); // warm-up
        target.Synchronize();
        using var timer = target.CreateTimer();
        var ms = new double[repeats];
        for (int r = 0; r < repeats; r++)
            ms[r] = BackToBack.MillisecondsPerPass(timer, () => source.CopyTo(destination), 1);
        Array.Sort(ms);
        double median = ms[repeats / 2];
        return 2.0 * floats * sizeof(float) / Math.Max(median * 1e-3, 1e-9) / 1e9;
    }
}
