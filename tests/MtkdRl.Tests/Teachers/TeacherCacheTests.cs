using System.Text.RegularExpressions;
using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Data.Datasets;
using MtkdRl.Data.Formats;
using MtkdRl.Teachers;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Training;

namespace MtkdRl.Tests.Teachers;

/// <summary>The teacher cache holds exactly what the teachers compute, and refuses to be used once the pool or data changed.</summary>
public class TeacherCacheTests
{
    private static readonly TeacherPlan[] Plans =
    [
        new("cnn", new TrainingRecipe { Spec = "cnn:4,fc8", Epochs = 1, BatchSize = 64, Seed = 3 }),
        new("mlp", new TrainingRecipe { Spec = "mlp:16", Epochs = 1, BatchSize = 64, Seed = 4 }),
    ];

    private const int ImportedWidth = 5;

    /// <summary>Imported outputs whose every value names (split, row, column); no test embeddings.</summary>
    private static TeacherPool.ImportFiles WriteImport(TempFolder temp, ImageDataset data, float offset = 0)
    {
        string Write(string name, int rows, int cols, float split)
        {
            var values = new float[rows * cols];
            for (int i = 0; i < values.Length; i++) values[i] = split + offset + i * 0.001f;
            string path = temp.File($"import/{name}.npy");
            NpyFile.Write(path, values, rows, cols);
            return path;
        }
        return new(Write("train-logits", data.Train.Count, 10, 1), Write("train-emb", data.Train.Count, ImportedWidth, 2),
            Write("test-logits", data.Test.Count, 10, 3), null);
    }

    private static string BuildPool(TempFolder temp, bool half)
    {
        string pool = temp.Sub("pool");
        var data = TeacherTestData.Tiny;
        TeacherPool.Train(pool, data, Plans, TrainingTestCompute.Shared);
        TeacherPool.Import(pool, "ext", WriteImport(temp, data), data);
        TeacherCache.Build(pool, data, half, TrainingTestCompute.Shared);
        return pool;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Cached_outputs_equal_a_fresh_forward_pass_bit_for_bit(bool half)
    {
        using var temp = new TempFolder();
        string pool = BuildPool(temp, half);
        var data = TeacherTestData.Tiny;
        foreach (var (split, images) in new[] { ("train", data.Train), ("test", data.Test) })
        {
            using var cache = TeacherCache.Open(pool, split, data);
            var h = cache.Header;
            Assert.Equal(half ? CacheDType.F16 : CacheDType.F32, h.DType);
            Assert.Equal(["cnn", "mlp", "ext"], h.Teachers.Select(t => t.Name));
            Assert.Equal([8, 16, ImportedWidth], h.Teachers.Select(t => t.EmbeddingWidth));
            int n = images.Count, C = 10, K = h.K, F = h.F;
            var zt = new float[K * n * C];
            var ft = new float[n * F];
            cache.Gather(Enumerable.Range(0, n).ToArray(), zt, ft);
            int offset = 0;
            for (int k = 0; k < 2; k++)
            {
                var loaded = Checkpoint.Load(Path.Combine(pool, Plans[k].Name), TrainingTestCompute.Shared);
                int d = loaded.Model.EmbeddingWidth;
                var logits = new float[n * C];
                var embeddings = new float[n * d];
                Evaluator.Run(loaded.Model, images, loaded.Normalization, Plans[k].Name, visit: (first, rows, z, f) =>
                {
                    z.CopyTo(logits.AsSpan(first * C));
                    f.CopyTo(embeddings.AsSpan(first * d));
                });
                Assert.Equal(Stored(logits, half), zt.AsSpan(k * n * C, n * C).ToArray());
                for (int r = 0; r < n; r++)
                    Assert.Equal(Stored(embeddings.AsSpan(r * d, d).ToArray(), half), ft.AsSpan(r * F + offset, d).ToArray());
                offset += d;
            }
            // The imported teacher: its files' values; zeros for the test embeddings it did not provide.
            var importedLogits = NpyFile.Read(Path.Combine(pool, $"ext.{split}-logits.npy")).Get<float>();
            Assert.Equal(Stored(importedLogits, half), zt.AsSpan(2 * n * C, n * C).ToArray());
            for (int r = 0; r < n; r++)
            {
                float expected = split == "train" ? Stored([2 + r * ImportedWidth * 0.001f], half)[0] : 0f;
                Assert.Equal(expected, ft[r * F + offset]);
            }
        }
    }

    private static float[] Stored(float[] values, bool half) => half ? values.Select(v => (float)(Half)v).ToArray() : values;

    [Fact]
    public void A_cache_is_refused_once_the_pool_or_the_dataset_changed()
    {
        using var temp = new TempFolder();
        string pool = BuildPool(temp, half: false);
        var data = TeacherTestData.Tiny;
        TeacherCache.Open(pool, "train", data).Dispose();

        var other = TeacherTestData.Cut(50, 20);
        var e = Assert.Throws<MtkdInputException>(() => TeacherCache.Open(pool, "test", other));
        Assert.Matches($@"^{Regex.Escape(TeacherCache.PathOf(pool, "test"))}: stale: built for dataset [0-9a-f]{{12}}, dataset is now [0-9a-f]{{12}}; run `mtkd teachers cache` again$", e.Message);

        // Re-importing a teacher with other outputs changes the pool under the cache.
        TeacherPool.Import(pool, "ext", WriteImport(temp, data, offset: 0.5f), data);
        e = Assert.Throws<MtkdInputException>(() => TeacherCache.Open(pool, "train", data));
        Assert.Matches($@"^{Regex.Escape(TeacherCache.PathOf(pool, "train"))}: stale: built for pool [0-9a-f]{{12}}, pool is now [0-9a-f]{{12}}; run `mtkd teachers cache` again$", e.Message);

        TeacherCache.Build(pool, data, half: false, TrainingTestCompute.Shared);
        TeacherCache.Open(pool, "train", data).Dispose();
    }

    [Fact]
    public void A_cache_for_another_dataset_than_the_pools_is_not_built()
    {
        using var temp = new TempFolder();
        string pool = temp.Sub("pool");
        TeacherPool.Train(pool, TeacherTestData.Tiny, [Plans[1]], TrainingTestCompute.Shared);
        var e = Assert.Throws<MtkdInputException>(() => TeacherCache.Build(pool, TeacherTestData.Cut(50, 20), false, TrainingTestCompute.Shared));
        Assert.StartsWith($"{Path.Combine(pool, "pool.json")}: the pool belongs to fashion-mnist (", e.Message);
        Assert.Empty(Directory.GetFiles(pool, "*.mtkc"));
    }
}
