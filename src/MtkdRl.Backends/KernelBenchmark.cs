using System.Diagnostics;
using System.Text.Json.Serialization;
using MtkdRl.Backends.Agreement;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Gpu.Timing;
using MtkdRl.Native;

namespace MtkdRl.Backends;

/// <summary>One timed pass of one backend at one shape (the `mtkd bench kernels --json` record).</summary>
/// <param name="CopyGbps">The memory's measured copy bandwidth (host RAM, or device memory for GPU backends).</param>
/// <param name="Roofline">Gbps / CopyGbps: the fraction of what a plain copy of the same bytes achieves.</param>
/// <param name="CopyThreads">Host threads of the copy that measured CopyGbps: the native op's team size, so both
/// use the same cores (0 for a device copy).</param>
/// <param name="Images">N of a dense step "B,K,C,D/N" (<see cref="KernelShape"/>): each pass is the op on the B pixel rows
/// and on the N images' feature rows, timed together; 0 for the op on B rows.</param>
public sealed record KernelBenchRecord(
    string Op, string Backend, string Variant, string Device,
    [property: JsonPropertyName("B")] int B, [property: JsonPropertyName("K")] int K,
    [property: JsonPropertyName("C")] int C, [property: JsonPropertyName("D")] int D,
    double MedianMs, double P20Ms, double P80Ms, long Bytes, double Gbps, double MaxRelErr, int Repeats,
    double CopyGbps, double Roofline, string Loss = "kl + mse", int CopyThreads = 0, int Images = 0);

/// <summary>Options of a kernel benchmark run.</summary>
/// <param name="Repeats">Timed repetitions per pass (after the warm-up); the median of these is reported.</param>
/// <param name="Warmup">Untimed repetitions first (JIT, kernel compilation, caches, clocks).</param>
/// <param name="Seed">Seed of the random inputs, so two runs time the same data.</param>
/// <param name="MaxSeconds">Time budget per pass: a slow backend (the float64 reference at large shapes)
/// gets fewer repetitions, never fewer than 3.</param>
/// <param name="Hyper">Scalars of the op (T, a_ce, a_kd, beta).</param>
public sealed record KernelBenchOptions(int Repeats = 50, int Warmup = 5, int Seed = 1234, double MaxSeconds = 20, DistillHyper Hyper = default)
{
    public DistillHyper EffectiveHyper => Hyper == default ? DistillHyper.Default : Hyper;
}

/// <summary>
/// Times the three passes of the fused op per backend. Every pass is timed on its own over many samples: on a
/// device with its own clock (<see cref="IDeviceTimedSession"/>) each sample is up to
/// <see cref="DeviceLaunchesPerSample"/> back-to-back launches between two events, elsewhere the wall clock
/// around the pass and a synchronize; reported as median and the 20th/80th percentiles
/// so one noisy neighbour cannot move the figure. Bytes are the minimum a pass must move
/// (<see cref="DistillTraffic"/>), so GB/s is comparable across backends. Each pass's outputs are also
/// compared with the float64 reference (max over outputs of max|got-ref|/max|ref|), so a fast wrong kernel
/// shows as wrong right next to its time.
/// </summary>
public static class KernelBenchmark
{
    /// <summary>
    /// The backends a `--backend` value times: those that run here. One asked for by name must run (a benchmark
    /// that silently times nothing reads as a success); with "all", one that cannot is reported and left out.
    /// </summary>
    public static IReadOnlyList<BackendEntry> Available(string name, Action<string> skipped)
    {
        var entries = BackendCatalog.Select(name, skipped);
        var available = new List<BackendEntry>();
        foreach (var entry in entries)
        {
            var probe = entry.Probe();
            if (probe.Available) { available.Add(entry); continue; }
            if (entries.Count == 1 && !string.Equals(name, "all", StringComparison.OrdinalIgnoreCase))
                throw new BackendUnavailableException($"backend '{entry.Name}' is unavailable: {probe.Detail}");
            skipped($"{entry.Name}: skipped ({probe.Detail})");
        }
        return available;
    }

    public static IEnumerable<KernelBenchRecord> Run(BackendEntry entry, IDistillBackend backend, DistillShape shape,
        KernelBenchOptions options, Action<string>? progress = null) =>
        Run(entry, backend, new KernelShape(shape), options, progress);

    /// <summary>
    /// The three passes at one shape. A dense step's pass is the op's pass on its images' feature rows (no logit
    /// term) then on its pixel rows (no feature term), timed as one, with the bytes of both.
    /// </summary>
    public static IEnumerable<KernelBenchRecord> Run(BackendEntry entry, IDistillBackend backend, KernelShape shape,
        KernelBenchOptions options, Action<string>? progress = null)
    {
        var h = options.EffectiveHyper;
        progress?.Invoke($"{entry.Name} {shape}: float64 reference");
        var parts = shape.IsDenseStep
            ? new[]
            {
                new Part(shape.ImageSession, DenseStepSessions.ImageHyper(h), options.Seed),
                new Part(shape.PixelSession(backend.SupportsFeaturelessTeachers), DenseStepSessions.PixelHyper(h), options.Seed),
            }
            : new[] { new Part(shape.Rows, h, options.Seed) };

        progress?.Invoke($"{entry.Name}: copy bandwidth");
        int copyThreads = CopyThreads(backend);
        double copyGbps = backend is ICopyBandwidthProbe device ? device.MeasureCopyGbps() : HostCopyBandwidth.MeasureGbps(copyThreads);

        try
        {
            foreach (var part in parts) part.Open(backend);
            var timed = parts[^1].Session!; // issued last: its synchronize waits for both on a device's one stream

            // stats
            progress?.Invoke($"{entry.Name} {shape}: stats");
            var statsTimes = Time(() => { foreach (var part in parts) part.Session!.Stats(part.Hyper); }, timed, options);
            double statsErr = parts.Max(part => part.StatsError(checkFinite: true));
            yield return Record("stats", h.Loss, entry, backend, shape, parts, statsTimes, DistillPass.Stats, statsErr, copyGbps, copyThreads);

            // gradient (reads the statistics the stats pass just left in the sessions)
            progress?.Invoke($"{entry.Name} {shape}: gradient");
            var gradTimes = Time(() => { foreach (var part in parts) part.Session!.Gradient(part.Hyper); }, timed, options);
            double gradErr = parts.Max(part => part.GradsError());
            yield return Record("gradient", h.Loss, entry, backend, shape, parts, gradTimes, DistillPass.Gradient, gradErr, copyGbps, copyThreads);

            // fused
            progress?.Invoke($"{entry.Name} {shape}: fused");
            foreach (var part in parts) part.Session!.PoisonOutputs();
            var fusedTimes = Time(() => { foreach (var part in parts) part.Session!.Fused(part.Hyper); }, timed, options);
            double fusedErr = parts.Max(part => Math.Max(part.StatsError(checkFinite: false), part.GradsError()));
            yield return Record("fused", h.Loss, entry, backend, shape, parts, fusedTimes, DistillPass.Fused, fusedErr, copyGbps, copyThreads);
        }
        finally
        {
            foreach (var part in parts) part.Session?.Dispose();
        }
    }

    /// <summary>One session of a timed shape: its random inputs, their float64 reference outputs, and its own hyper.</summary>
    private sealed class Part
    {
        private readonly DistillInputs _inputs;
        private readonly ReferenceDistill.Stats64 _refStats;
        private readonly ReferenceDistill.Grads64 _refGrads;

        public Part(DistillShape shape, DistillHyper hyper, int seed)
        {
            Shape = shape;
            Hyper = hyper;
            _inputs = RandomInputs(shape, seed);
            var x64 = ReferenceDistill.Inputs64.From(_inputs);
            _refStats = ReferenceDistill.ComputeStats(x64, hyper);
            _refGrads = ReferenceDistill.ComputeGrads(x64, _refStats, hyper);
        }

        public DistillShape Shape { get; }
        public DistillHyper Hyper { get; }
        public IDistillSession? Session { get; private set; }

        public void Open(IDistillBackend backend)
        {
            Session = backend.CreateSession(Shape);
            Session.Upload(_inputs);
        }

        public double StatsError(bool checkFinite)
        {
            var stats = new DistillStats(Shape);
            Session!.DownloadStats(stats);
            if (checkFinite) DistillValidation.CheckStatsFinite(_inputs, stats);
            return MaxRelErr(ReferenceDistill.Named(_refStats), stats.Named());
        }

        public double GradsError()
        {
            var grads = new DistillGrads(Shape);
            Session!.DownloadGrads(grads);
            return MaxRelErr(ReferenceDistill.Named(_refGrads), grads.Named());
        }
    }

    /// <summary>Reproducible inputs: Gaussian logits and features, 10% ignored rows, normalised weights.</summary>
    public static DistillInputs RandomInputs(DistillShape s, int seed) => AgreementInputs.Create(s, seed, ignoredFraction: 0.1);

    /// <summary>Passes per sample on a device with its own clock: issued back to back between two events.</summary>
    public const int DeviceLaunchesPerSample = 10;

    /// <summary>Least warm-up time per pass, within a quarter of the run's budget.</summary>
    public const double MinWarmupSeconds = 0.5;

    private static double[] Time(Action pass, IDistillSession session, KernelBenchOptions o)
    {
        // A call timed on its own sizes the run; it also serves as warm-up. On a device it comes after an untimed
        // one, which compiles the kernels (else the run would be sized by the compiler).
        if (session is IDeviceTimedSession)
        {
            pass();
            session.Synchronize();
        }
        long first = Stopwatch.GetTimestamp();
        pass();
        session.Synchronize();
        double firstSeconds = Stopwatch.GetElapsedTime(first).TotalSeconds;
        int budget = (int)Math.Clamp(o.MaxSeconds / Math.Max(firstSeconds, 1e-9), 3, int.MaxValue);
        int warmup = Math.Min(o.Warmup, budget / 4);
        int repeats = Math.Min(o.Repeats, Math.Max(3, budget - warmup));

        // A warm-up also lasts MinWarmupSeconds (a fortieth of the run's budget if less): the runtime recompiles a
        // method in the background after its first 30 calls, and on a 2-core machine that compile took a core from
        // the timed calls (the fused pass at 1024,8,1000,512: median 3.9-5.5 ms against 2.8 after a longer warm-up).
        double warmSeconds = warmup > 0 ? Math.Min(MinWarmupSeconds, o.MaxSeconds / 40) : 0;
        long warmStart = Stopwatch.GetTimestamp();
        for (int i = 0; i < budget / 4 && (i < warmup || Stopwatch.GetElapsedTime(warmStart).TotalSeconds < warmSeconds); i++)
            pass();
        session.Synchronize();
        var ms = new double[repeats];
        if (session is IDeviceTimedSession device)
        {
            // Device time of back-to-back launches, as the PyTorch script times with CUDA events: the host's
            // argument setup, locks and launch calls overlap the device's work instead of adding to it.
            int launches = Math.Clamp(budget / Math.Max(repeats, 1), 1, DeviceLaunchesPerSample);
            for (int i = 0; i < repeats; i++) ms[i] = device.MillisecondsPerPass(pass, launches);
        }
        else
        {
            for (int i = 0; i < repeats; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                pass();
                session.Synchronize();
                ms[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
        }
        Array.Sort(ms);
        return ms;
    }

    /// <summary>Linear-interpolated percentile of sorted values.</summary>
    public static double Percentile(double[] sorted, double q)
    {
        if (sorted.Length == 1) return sorted[0];
        double pos = q * (sorted.Length - 1);
        int lo = (int)Math.Floor(pos), hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
    }

    /// <summary>
    /// Threads of the host copy a backend is compared with: the native op's team, every core for the other host
    /// backends, 0 for a backend that measures its own device memory.
    /// </summary>
    public static int CopyThreads(IDistillBackend backend) => backend switch
    {
        ICopyBandwidthProbe => 0,
        NativeBackend native => native.Threads,
        _ => Environment.ProcessorCount,
    };

    private static KernelBenchRecord Record(string op, DistillLoss loss, BackendEntry entry, IDistillBackend backend, KernelShape shape,
        IEnumerable<Part> parts, double[] sortedMs, DistillPass pass, double err, double copyGbps, int copyThreads)
    {
        var s = shape.Rows;
        double median = Percentile(sortedMs, 0.5);
        long bytes = parts.Sum(part => DistillTraffic.MinimumBytes(part.Shape, pass));
        double gbps = bytes / (median * 1e-3) / 1e9;
        return new KernelBenchRecord(op, entry.Family, entry.Name, backend.Device, s.B, s.K, s.C, s.UniformWidth ? s.D[0] : -1,
            median, Percentile(sortedMs, 0.2), Percentile(sortedMs, 0.8), bytes, gbps, err, sortedMs.Length,
            copyGbps, gbps / copyGbps, loss.ToString(), copyThreads, shape.Images);
    }

    /// <summary>The largest relative error over the outputs (BackendAgreement's measure; NaN for misplaced non-finite values).</summary>
    private static double MaxRelErr(IEnumerable<(string, double[])> want, IEnumerable<(string, float[])> got) =>
        BackendAgreement.WorstRelativeError(want.Zip(got, (w, g) => BackendAgreement.CompareOutput(w.Item1, w.Item2, g.Item2, tolerance: 0)));
}
