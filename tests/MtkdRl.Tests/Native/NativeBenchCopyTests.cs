using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Native;

namespace MtkdRl.Tests.Native;

/// <summary>
/// `mtkd bench kernels` compares the native op with a copy run on as many threads as the op's team, so "of copy"
/// reads against what those cores can move (with --threads 1, one core's copy, not the whole machine's).
/// </summary>
public class NativeBenchCopyTests
{
    [SkippableFact]
    public void The_native_op_is_compared_with_a_copy_on_its_own_thread_count()
    {
        var probe = NativeBackend.Probe(NativeSimd.Auto);
        Skip.IfNot(probe.Available, $"native unavailable: {probe.Detail}");
        using var backend = new NativeBackend(NativeSimd.Auto, threads: 1);
        var records = KernelBenchmark.Run(BackendCatalog.Find("native"), backend, new DistillShape(4, 2, 8, 4),
            new KernelBenchOptions(Repeats: 3, Warmup: 0, MaxSeconds: 1)).ToList();

        Assert.Equal(3, records.Count);
        double oneThread = HostCopyBandwidth.MeasureGbps(1);
        Assert.All(records, r => Assert.Equal(1, r.CopyThreads));
        Assert.All(records, r => Assert.Equal(oneThread, r.CopyGbps)); // the cached one-thread figure, not every core's
        Assert.All(records, r => Assert.Equal(r.Gbps / oneThread, r.Roofline, 12));
    }

    [Fact]
    public void The_copy_is_measured_once_per_thread_count()
    {
        double one = HostCopyBandwidth.MeasureGbps(1);
        Assert.True(double.IsFinite(one) && one > 0, $"copy bandwidth {one}");
        Assert.Equal(one, HostCopyBandwidth.MeasureGbps(1));
        Assert.Equal(HostCopyBandwidth.MeasureGbps(), HostCopyBandwidth.MeasureGbps(Environment.ProcessorCount));
        Assert.Equal(HostCopyBandwidth.MeasureGbps(), HostCopyBandwidth.MeasureGbps(0));
    }
}
