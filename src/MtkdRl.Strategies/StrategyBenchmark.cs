using System.Diagnostics;
using MtkdRl.Core;
using MtkdRl.Core.Distill;

namespace MtkdRl.Strategies;

/// <summary>
/// Time one strategy per batch, on plausible random statistics.
/// </summary>
/// <param name="WeightsMicroseconds">Mean time of <see cref="IWeightingStrategy.Weights"/> per batch.</param>
/// <param name="LearnMicroseconds">Mean time of <see cref="IWeightingStrategy.Learn"/> per batch, updates included.</param>
/// <param name="UpdateMicroseconds">The share of <paramref name="LearnMicroseconds"/> spent in the Learn calls that
/// ran an agent update, per batch (so Learn minus this is the per-batch bookkeeping).</param>
/// <param name="EpochEndMicroseconds">Time of the one <see cref="IWeightingStrategy.EndEpoch"/> call (the paper agent replays there).</param>
/// <param name="AllocatedBytesPerBatch">Managed bytes allocated per batch over the timed loop (updates included).</param>
/// <param name="Updates">Agent updates that happened in the timed loop.</param>
public sealed record StrategyTiming(string Strategy, int B, int K, int C, int D, int Batches,
    double WeightsMicroseconds, double LearnMicroseconds, double UpdateMicroseconds, double EpochEndMicroseconds,
    double AllocatedBytesPerBatch, int Updates)
{
    /// <summary>Agent time per batch (weights + learning + the epoch-end share).</summary>
    public double MicrosecondsPerBatch => WeightsMicroseconds + LearnMicroseconds + EpochEndMicroseconds / Batches;
}

/// <summary>
/// Measures what a strategy adds to a distillation batch (the <c>bench</c> verb can call it): Weights and Learn
/// for <paramref name="batches"/> batches of B rows and K teachers, then one EndEpoch. Nothing else runs in
/// the loop, so the figure is the strategy's own overhead, to compare with the time of an epoch of aver.
/// </summary>
public static class StrategyBenchmark
{
    /// <summary>Least time spent warming up before timing.</summary>
    public const double WarmupSeconds = 2.0;

    public static StrategyTiming Run(string strategy, int b = 256, int k = 8, int batches = 200, int c = 10, int d = 64,
        StrategyOptions? options = null, int warmupBatches = 20)
    {
        var shape = new DistillShape(b, k, c, d);
        options ??= new StrategyOptions();
        options = options with
        {
            Classes = c,
            EmbeddingWidths = Enumerable.Repeat(d, k).ToArray(),
            FixedWeights = options.FixedWeights ?? string.Join(',', Enumerable.Repeat("1", k)),
        };
        var s = StrategyCatalog.Create(strategy, k, options);
        var rng = new Rng(12345);
        var stats = new DistillStats(shape);
        var ft = new float[b * shape.F];
        var zt = new float[k * b * c];
        var wl = new float[b * k];
        var wf = new float[b * k];
        var ignored = new Stopwatch();
        // Warm up for a number of batches and a minimum time: the runtime first runs every method unoptimised and
        // replaces the hot ones only after they have been called for a while (tiered compilation), so a short
        // warm-up times code that a training run leaves behind within its first second (3-4x slower for PPO).
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < warmupBatches || warm.Elapsed.TotalSeconds < WarmupSeconds; i++)
            Step(s, shape, stats, ft, zt, wl, wf, rng, ignored, ignored, out _);
        s.EndEpoch();

        var weights = new Stopwatch();
        var learn = new Stopwatch();
        long updateTicks = 0;
        int updates = 0;
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < batches; i++)
        {
            if (!Step(s, shape, stats, ft, zt, wl, wf, rng, weights, learn, out long learnTicks)) continue;
            updates++;
            updateTicks += learnTicks;
        }
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        var epochEnd = Stopwatch.StartNew();
        if (s.EndEpoch() is not null) updates++;
        epochEnd.Stop();
        return new StrategyTiming(strategy, b, k, c, d, batches, Micro(weights) / batches, Micro(learn) / batches,
            Stopwatch.GetElapsedTime(0, updateTicks).TotalMicroseconds / batches, Micro(epochEnd), (double)allocated / batches, updates);
    }

    private static double Micro(Stopwatch w) => w.Elapsed.TotalMicroseconds;

    private static bool Step(IWeightingStrategy s, DistillShape shape, DistillStats stats, float[] ft, float[] zt,
        float[] wl, float[] wf, Rng rng, Stopwatch weights, Stopwatch learn, out long learnTicks)
    {
        Randomise(stats, rng);
        if (s.NeedsTeacherOutputs)
        {
            for (int i = 0; i < ft.Length; i++) ft[i] = 2 * rng.NextSingle() - 1;
            for (int i = 0; i < zt.Length; i++) zt[i] = 6 * rng.NextSingle() - 3;
        }
        var context = new WeightingContext(stats, default, ft, zt);
        weights.Start();
        s.Weights(context, wl, wf);
        weights.Stop();
        var feedback = new LearnFeedback(stats, default, 5f, 1.0, 1.0 - 0.01 * rng.NextSingle());
        long before = learn.ElapsedTicks;
        learn.Start();
        var log = s.Learn(feedback);
        learn.Stop();
        learnTicks = learn.ElapsedTicks - before;
        return log is not null;
    }

    private static void Randomise(DistillStats s, Rng rng)
    {
        int bk = s.Shape.B * s.Shape.K;
        for (int i = 0; i < bk; i++)
        {
            s.Kl[i] = 3 * rng.NextSingle();
            s.CeT[i] = 3 * rng.NextSingle();
            s.Ht[i] = 2 * rng.NextSingle();
            s.Conf[i] = 0.1f + 0.9f * rng.NextSingle();
            s.Hit[i] = rng.NextSingle() < 0.7f ? 1 : 0;
            s.Cos[i] = 2 * rng.NextSingle() - 1;
            s.Mse[i] = 2 * rng.NextSingle();
        }
        for (int r = 0; r < s.Shape.B; r++) s.CeS[r] = 3 * rng.NextSingle();
    }
}
