using System.Diagnostics;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Data.Datasets;
using MtkdRl.Data.Formats;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>One pool size of <see cref="EpochBenchmark"/>.</summary>
/// <param name="EpochSeconds">Median over the timed epochs of train_seconds (steps only; no evaluation or checkpoint).</param>
/// <param name="PairedRatio">Median over rounds of this strategy's median epoch in the round divided by the first
/// strategy's in the same round (1 for the first strategy): the two ran back to back, so a slow spell of a shared
/// machine touches both sides of each ratio.</param>
/// <param name="PairedRatioLow">Smallest per-round ratio.</param>
/// <param name="PairedRatioHigh">Largest per-round ratio.</param>
public sealed record EpochBenchRecord(string Strategy, string Student, int K, int D, int Rows, int Epochs, double EpochSeconds,
    double SamplesPerSecond, double StrategyShare, long CacheBytes, double PairedRatio = 1, double PairedRatioLow = 1, double PairedRatioHigh = 1);

/// <summary>
/// How the cost of a distillation epoch grows with the pool: for each K, a pool of K synthetic teachers
/// (random logits and D-wide embeddings imported as NPY, so no teacher has to be trained), its cache, and
/// a few epochs of the real loop; the epoch time is the median train_seconds. With cached outputs a teacher
/// costs one more contiguous slice per sample record and K more columns for the op, so the time should grow
/// far slower than K.
/// </summary>
public static class EpochBenchmark
{
    /// <summary>
    /// For each K: builds the synthetic pool, then runs <paramref name="rounds"/> rounds in which every strategy
    /// in turn distils for template.Epochs epochs into a fresh folder. Strategies alternate within a round so
    /// each sees the same machine load; an epoch's time is its train_seconds, the first epoch of a run (JIT
    /// warm-up) is left out when there are more, and the record holds the median over every kept epoch.
    /// </summary>
    public static IReadOnlyList<EpochBenchRecord> Run(ImageDataset data, IReadOnlyList<int> teacherCounts, IReadOnlyList<string> strategies,
        DistillRecipe template, int rounds, int embeddingWidth, CpuCompute compute, IDistillBackend backend, string backendName,
        Action<string>? log = null)
    {
        CheckPlan(strategies, template, rounds);
        string root = NewScratchFolder();
        var records = new List<EpochBenchRecord>();
        try
        {
            foreach (int k in teacherCounts)
            {
                if (k < 1) throw new MtkdInputException($"teacher count must be at least 1 (got {k})");
                string pool = Path.Combine(root, $"pool{k}");
                log?.Invoke($"K={k}: importing {k} synthetic teachers and caching them");
                BuildSyntheticPool(pool, data, k, embeddingWidth, template.Seed, compute);
                records.AddRange(TimePool(data, pool, k, embeddingWidth, strategies, template, rounds, root, compute, backend, backendName, log));
                Directory.Delete(pool, true);
            }
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, true);
        }
        return records;
    }

    /// <summary>
    /// The same rounds on an existing pool with its cache (the pool's own K and embedding widths; the records' D is
    /// the mean width).
    /// </summary>
    public static IReadOnlyList<EpochBenchRecord> RunOnPool(ImageDataset data, string pool, IReadOnlyList<string> strategies,
        DistillRecipe template, int rounds, CpuCompute compute, IDistillBackend backend, string backendName, Action<string>? log = null)
    {
        CheckPlan(strategies, template, rounds);
        var teachers = PoolManifest.Read(pool).Teachers;
        string root = NewScratchFolder();
        try
        {
            int meanWidth = (int)Math.Round(teachers.Average(t => t.EmbeddingWidth));
            return TimePool(data, pool, teachers.Count, meanWidth, strategies, template, rounds, root, compute, backend, backendName, log);
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, true);
        }
    }

    /// <summary>One-line errors for a plan no benchmark could run, before any pool is built.</summary>
    private static void CheckPlan(IReadOnlyList<string> strategies, DistillRecipe template, int rounds)
    {
        if (rounds < 1) throw new MtkdInputException($"rounds must be at least 1 (got {rounds})");
        if (strategies.Count == 0) throw new MtkdInputException("no strategy to time");
        foreach (var s in strategies) (template with { Strategy = s }).Validate();
    }

    /// <summary>A fresh temporary folder for the runs (and synthetic pools); the caller deletes it.</summary>
    private static string NewScratchFolder() => Path.Combine(Path.GetTempPath(), "mtkd-epoch-bench-" + Guid.NewGuid().ToString("N")[..8]);

    private static List<EpochBenchRecord> TimePool(ImageDataset data, string pool, int k, int embeddingWidth, IReadOnlyList<string> strategies,
        DistillRecipe template, int rounds, string root, CpuCompute compute, IDistillBackend backend, string backendName, Action<string>? log)
    {
        var records = new List<EpochBenchRecord>();
        long bytes = TeacherCache.Splits.Sum(s => new FileInfo(TeacherCache.PathOf(pool, s)).Length);
        var trainer = new DistillTrainer(data, pool, compute, backend, backendName);
        var kept = strategies.ToDictionary(s => s, _ => new List<DistillEpochMetrics>());
        var roundMedians = strategies.ToDictionary(s => s, _ => new List<double>());
        for (int round = 0; round < rounds; round++)
        {
            foreach (string strategy in strategies)
            {
                log?.Invoke($"K={k}: round {round + 1}/{rounds}, {template.Epochs} epochs of {strategy}");
                var outcome = trainer.Run(template with { Strategy = strategy }, Path.Combine(root, $"run{k}-{strategy}-{round}"), resume: false);
                var timed = (outcome.Metrics.Count > 1 ? outcome.Metrics.Skip(1) : outcome.Metrics).ToList();
                kept[strategy].AddRange(timed);
                roundMedians[strategy].Add(Median(timed.Select(m => m.TrainSeconds)));
            }
        }
        int rows = data.Train.Count / template.BatchSize * template.BatchSize;
        foreach (string strategy in strategies)
        {
            var epochs = kept[strategy];
            double median = Median(epochs.Select(m => m.TrainSeconds));
            double share = epochs.Sum(m => m.StrategySeconds) / epochs.Sum(m => m.TrainSeconds);
            var ratios = roundMedians[strategy].Zip(roundMedians[strategies[0]], (mine, first) => mine / first).ToList();
            records.Add(new EpochBenchRecord(strategy, template.Student, k, embeddingWidth, rows, epochs.Count, median, rows / median, share, bytes,
                Median(ratios), ratios.Min(), ratios.Max()));
        }
        return records;
    }

    /// <summary>The middle value (the mean of the two middle ones for an even count).</summary>
    internal static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        if (sorted.Count == 0) throw new ArgumentException("median of no values");
        int mid = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[mid] : 0.5 * (sorted[mid - 1] + sorted[mid]);
    }

    private static void BuildSyntheticPool(string pool, ImageDataset data, int k, int width, ulong seed, CpuCompute compute)
    {
        Directory.CreateDirectory(pool);
        var rng = new Rng(seed ^ 0xE90C_0000UL);
        int c = data.Train.ClassCount;
        string Write(string name, int rows, int cols)
        {
            var values = new float[(long)rows * cols];
            for (long i = 0; i < values.Length; i++) values[i] = (float)rng.NextGaussian();
            string path = Path.Combine(pool, "import-src", name + ".npy");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            NpyFile.Write(path, values, rows, cols);
            return path;
        }
        for (int t = 0; t < k; t++)
        {
            var files = new TeacherPool.ImportFiles(Write($"t{t}-train-logits", data.Train.Count, c), Write($"t{t}-train-emb", data.Train.Count, width),
                Write($"t{t}-test-logits", data.Test.Count, c), Write($"t{t}-test-emb", data.Test.Count, width));
            TeacherPool.Import(pool, $"synthetic{t}", files, data);
        }
        Directory.Delete(Path.Combine(pool, "import-src"), true);
        TeacherCache.Build(pool, data, false, compute);
    }
}
