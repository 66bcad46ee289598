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
public sealed record EpochBenchRecord(string Strategy, string Student, int K, int D, int Rows, int Epochs, double EpochSeconds,
    double SamplesPerSecond, double StrategyShare, long CacheBytes);

/// <summary>
/// How the cost of a distillation epoch grows with the pool: for each K, a pool of K synthetic teachers
/// (random logits and D-wide embeddings imported as NPY, so no teacher has to be trained), its cache, and
/// a few epochs of the real loop; the epoch time is the median train_seconds. With cached outputs a teacher
/// costs one more contiguous slice per sample record and K more columns for the op, so the time should grow
/// far slower than K.
/// </summary>
public static class EpochBenchmark
{
    public static IReadOnlyList<EpochBenchRecord> Run(ImageDataset data, IReadOnlyList<int> teacherCounts, DistillRecipe template,
        int embeddingWidth, CpuCompute compute, IDistillBackend backend, string backendName, Action<string>? log = null)
    {
        string root = Path.Combine(Path.GetTempPath(), "mtkd-epoch-bench-" + Guid.NewGuid().ToString("N")[..8]);
        var records = new List<EpochBenchRecord>();
        try
        {
            foreach (int k in teacherCounts)
            {
                if (k < 1) throw new MtkdInputException($"teacher count must be at least 1 (got {k})");
                string pool = Path.Combine(root, $"pool{k}");
                log?.Invoke($"K={k}: importing {k} synthetic teachers and caching them");
                BuildSyntheticPool(pool, data, k, embeddingWidth, template.Seed, compute);
                long bytes = TeacherCache.Splits.Sum(s => new FileInfo(TeacherCache.PathOf(pool, s)).Length);
                log?.Invoke($"K={k}: {template.Epochs} epochs of {template.Strategy}");
                var trainer = new DistillTrainer(data, pool, compute, backend, backendName);
                var outcome = trainer.Run(template, Path.Combine(root, $"run{k}"), resume: false);
                var seconds = outcome.Metrics.Select(m => m.TrainSeconds).Order().ToList();
                double median = seconds[seconds.Count / 2];
                double share = outcome.Metrics.Sum(m => m.StrategySeconds) / outcome.Metrics.Sum(m => m.TrainSeconds);
                int rows = data.Train.Count / template.BatchSize * template.BatchSize;
                records.Add(new EpochBenchRecord(template.Strategy, template.Student, k, embeddingWidth, rows, outcome.Metrics.Count,
                    median, rows / median, share, bytes));
                Directory.Delete(pool, true);
            }
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, true);
        }
        return records;
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
