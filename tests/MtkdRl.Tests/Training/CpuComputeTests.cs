using MtkdRl.Tests.Support;
using MtkdRl.Training;

namespace MtkdRl.Tests.Training;

/// <summary>The managed split of GEMMs and loops among workers: same results as one worker, every range covered once.</summary>
public class CpuComputeTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Split_gemm_matches_a_float64_product(int threads)
    {
        using var compute = new CpuCompute(threads);
        var rng = new Random(TestSeeds.Next());
        // Large enough to be split; rows or columns the larger side; sizes that are not multiples of the split alignment.
        foreach (var (m, n, k) in new[] { (301, 45, 77), (37, 517, 90), (130, 130, 33), (5, 3, 2) })
        {
            foreach (bool ta in new[] { false, true })
            {
                foreach (bool tb in new[] { false, true })
                {
                    int offset = rng.Next(0, 4), lda = (ta ? m : k) + 1, ldb = (tb ? k : n) + 2, ldc = n + 3;
                    var a = GradientCheck.Random(rng, offset + (ta ? k : m) * lda);
                    var b = GradientCheck.Random(rng, offset + (tb ? n : k) * ldb);
                    var c = GradientCheck.Random(rng, offset + m * ldc);
                    var c0 = (float[])c.Clone();
                    compute.Sgemm(ta, tb, m, n, k, 0.5f, a, offset, lda, b, offset, ldb, 2f, c, offset, ldc);
                    double maxErr = 0, maxRef = 1e-6;
                    for (int i = 0; i < m; i++)
                    {
                        for (int j = 0; j < n; j++)
                        {
                            double s = 0;
                            for (int p = 0; p < k; p++)
                                s += (double)a[offset + (ta ? p * lda + i : i * lda + p)] * b[offset + (tb ? j * ldb + p : p * ldb + j)];
                            double want = 0.5 * s + 2.0 * c0[offset + i * ldc + j];
                            maxErr = Math.Max(maxErr, Math.Abs(c[offset + i * ldc + j] - want));
                            maxRef = Math.Max(maxRef, Math.Abs(want));
                        }
                        // Padding between rows is left alone.
                        for (int j = n; j < ldc && offset + i * ldc + j < c.Length; j++)
                            Assert.Equal(c0[offset + i * ldc + j], c[offset + i * ldc + j]);
                    }
                    Assert.True(maxErr / maxRef < 1e-5, $"{m}x{n}x{k} ta={ta} tb={tb} threads={threads}: error {maxErr / maxRef:E2}");
                }
            }
        }
    }

    [Theory]
    [InlineData(1, 10, 1)]
    [InlineData(3, 10, 3)]
    [InlineData(4, 3, 3)]
    [InlineData(2, 1, 1)]
    public void ForWorkers_covers_each_index_once_with_distinct_workers(int threads, int count, int expectedParts)
    {
        using var compute = new CpuCompute(threads);
        var hits = new int[count];
        var workers = new System.Collections.Concurrent.ConcurrentBag<int>();
        compute.ForWorkers(count, 99, (worker, start, end) =>
        {
            workers.Add(worker);
            for (int i = start; i < end; i++) Interlocked.Increment(ref hits[i]);
        });
        Assert.All(hits, h => Assert.Equal(1, h));
        Assert.Equal(expectedParts, workers.Count);
        Assert.Equal(workers.Count, workers.Distinct().Count());
        Assert.All(workers, w => Assert.InRange(w, 0, threads - 1));
    }

    [Fact]
    public void A_model_gives_the_same_outputs_with_any_thread_count()
    {
        var rng = new Random(TestSeeds.Next());
        var x = GradientCheck.Random(rng, 9 * 2 * 12 * 12);
        var dz = GradientCheck.Random(rng, 9 * 5);
        float[]? logits = null, grad = null;
        foreach (int threads in new[] { 1, 2, 3 })
        {
            using var compute = new CpuCompute(threads);
            var model = MtkdRl.Training.ModelSpec.Parse("cnn:6x8,fc16").Build(SampleShape.Image(2, 12, 12), 5, compute, new MtkdRl.Core.Rng(3));
            model.Forward(x, 9, training: true);
            model.Backward(dz);
            var l = model.Logits.ToArray();
            var g = model.Parameters[0].Grad;
            if (logits is null)
            {
                logits = l;
                grad = (float[])g.Clone();
                continue;
            }
            Assert.InRange(GradientCheck.RelativeError(l, logits.Select(v => (double)v).ToArray()), 0, 1e-5);
            Assert.InRange(GradientCheck.RelativeError(g, grad!.Select(v => (double)v).ToArray()), 0, 1e-5);
        }
    }
}
