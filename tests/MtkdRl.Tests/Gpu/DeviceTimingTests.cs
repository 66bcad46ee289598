using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Gpu.Cuda;
using MtkdRl.Gpu.Timing;
using MtkdRl.Tests.Distill;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Gpu;

/// <summary>
/// GPU figures: passes timed as back-to-back launches by the device's clock, and "of copy" against the device's own
/// copy bandwidth. Shown through the emulator backend, which runs the GPU backends' session and probe code.
/// </summary>
public class DeviceTimingTests
{
    private static CudaEmulatorBackend Emulator(long copyBytes)
    {
        var probe = CudaEmulatorBackend.Probe();
        Skip.IfNot(probe.Available, $"cuda-emu unavailable: {probe.Detail}");
        return new CudaEmulatorBackend { CopyProbeBytes = copyBytes };
    }

    [SkippableFact]
    public void The_emulator_backend_measures_its_own_copy_bandwidth_and_the_benchmark_divides_by_it()
    {
        using var backend = Emulator(copyBytes: 1 << 20);
        ICopyBandwidthProbe probe = backend;
        double gbps = probe.MeasureCopyGbps();
        Assert.True(double.IsFinite(gbps) && gbps > 0, $"copy bandwidth {gbps}");
        Assert.Equal(gbps, probe.MeasureCopyGbps()); // measured once per backend

        var entry = BackendCatalog.Find("cuda-emu");
        var records = KernelBenchmark.Run(entry, backend, new DistillShape(4, 2, 8, 4),
            new KernelBenchOptions(Repeats: 3, Warmup: 0, MaxSeconds: 1)).ToList();
        Assert.Equal(3, records.Count);
        Assert.All(records, r => Assert.Equal(gbps, r.CopyGbps));
        Assert.All(records, r => Assert.Equal(r.Gbps / gbps, r.Roofline, 12));
    }

    [SkippableFact]
    public void The_copy_probe_copies_every_byte()
    {
        using var backend = Emulator(copyBytes: 1 << 16);
        var target = backend.Target;
        using var a = target.Allocate<float>(1000);
        using var b = target.Allocate<float>(1000);
        var data = Enumerable.Range(0, 1000).Select(i => i * 0.5f).ToArray();
        a.Upload(data);
        b.FillBytes(0xFF);
        a.CopyTo(b);
        var got = new float[1000];
        b.Download(got);
        Assert.Equal(data, got);
        Assert.Throws<ArgumentException>(() => a.CopyTo(target.Allocate<float>(999)));
    }

    [SkippableFact]
    public void A_gpu_session_times_back_to_back_launches_between_two_marks()
    {
        using var backend = Emulator(copyBytes: 1 << 16);
        var shape = new DistillShape(5, 2, 9, 3);
        using var session = backend.CreateSession(shape);
        session.Upload(DistillInputFactory.Create(shape, TestSeeds.Next()));
        var timed = Assert.IsAssignableFrom<IDeviceTimedSession>(session);
        int calls = 0;
        double ms = timed.MillisecondsPerPass(() => { calls++; session.Stats(DistillHyper.Default); }, 7);
        Assert.Equal(7, calls);
        Assert.True(ms > 0 && double.IsFinite(ms), $"{ms} ms per pass");
    }

    [Fact]
    public void The_benchmark_reports_the_device_clock_of_a_session_that_has_one()
    {
        using var backend = new DeviceClockBackend(perPassMs: 2.5);
        var entry = BackendCatalog.Find("reference");
        var records = KernelBenchmark.Run(entry, backend, new DistillShape(4, 2, 8, 4),
            new KernelBenchOptions(Repeats: 5, Warmup: 1, MaxSeconds: 5)).ToList();
        Assert.All(records, r => Assert.Equal(2.5, r.MedianMs));
        Assert.True(backend.Launches >= 5, $"{backend.Launches} launches through the device clock");
    }

    /// <summary>The reference backend, whose sessions claim a device clock that reads a fixed time per pass.</summary>
    private sealed class DeviceClockBackend(double perPassMs) : IDistillBackend
    {
        private readonly ReferenceBackend _inner = new();
        public int Launches;
        public double PerPassMs => perPassMs;
        public string Name => "device-clock";
        public string Device => "reference with a fixed device clock";
        public bool ApproximateMath => false;
        public IDistillSession CreateSession(DistillShape shape) => new Session(_inner.CreateSession(shape), this);
        public void Dispose() => _inner.Dispose();

        private sealed class Session(IDistillSession inner, DeviceClockBackend owner) : IDistillSession, IDeviceTimedSession
        {
            public DistillShape Shape => inner.Shape;
            public void Upload(DistillInputs inputs) => inner.Upload(inputs);
            public void UploadWeights(float[] wl, float[] wf) => inner.UploadWeights(wl, wf);
            public void Stats(in DistillHyper hyper) => inner.Stats(hyper);
            public void Gradient(in DistillHyper hyper) => inner.Gradient(hyper);
            public void Fused(in DistillHyper hyper) => inner.Fused(hyper);
            public void Synchronize() => inner.Synchronize();
            public void PoisonOutputs() => inner.PoisonOutputs();
            public void DownloadStats(DistillStats destination) => inner.DownloadStats(destination);
            public void DownloadGrads(DistillGrads destination) => inner.DownloadGrads(destination);
            public void Dispose() => inner.Dispose();

            public double MillisecondsPerPass(Action pass, int launches)
            {
                for (int i = 0; i < launches; i++) pass();
                owner.Launches += launches;
                return owner.PerPassMs;
            }
        }
    }
}
