using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Distillation;
using MtkdRl.Teachers;
using MtkdRl.Tests.Cli;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Training;
using MtkdRl.Training;

namespace MtkdRl.Tests.Distillation;

/// <summary>
/// The dense teacher cache: it holds each teacher's logit rows and embedding as the live teacher gives them (to
/// float16 rounding), a run reads it instead of the teachers with the same numbers, a flipped byte or a cache of
/// another task is refused in one line, and a pool without a cache for the student's grid runs its teachers live.
/// </summary>
[Collection("console")]
public sealed class DenseTeacherCacheTests
{
    private static readonly double HalfUlp = Math.Pow(2, -11), HalfTiny = Math.Pow(2, -24);

    private static DistillRecipe Recipe(string student, string strategy) =>
        new() { Student = student, Strategy = strategy, Epochs = 2, BatchSize = 8, Seed = 3 };

    private static IReadOnlyList<DenseEpoch> RunSegmentation(MtkdRl.Data.Scenes.SceneDataset data, string pool, DistillRecipe recipe, bool live,
        List<string>? said = null)
    {
        using var backend = BackendCatalog.Create("native");
        return new DenseDistillRun(data, pool, TrainingTestCompute.Shared, backend) { Teachers = new DenseTeacherOptions(live, said is null ? null : said.Add) }.Run(recipe);
    }

    private static IReadOnlyList<DetectionDistillEpoch> RunDetection(DetectionScenes scenes, string pool, DistillRecipe recipe, bool live)
    {
        using var backend = BackendCatalog.Create("native");
        return new DetectionDistillRun(scenes, pool, TrainingTestCompute.Shared, backend) { Teachers = new DenseTeacherOptions(live) }.Run(recipe);
    }

    /// <summary>|cached - live| within one float16 rounding of the live value (float32 caches: exactly the live value, up to the batch's arithmetic).</summary>
    private static void AssertWithinHalf(ReadOnlySpan<float> live, ReadOnlySpan<float> cached, string what)
    {
        Assert.Equal(live.Length, cached.Length);
        for (int i = 0; i < live.Length; i++)
            Assert.True(Math.Abs(cached[i] - live[i]) <= Math.Abs(live[i]) * HalfUlp + HalfTiny + 1e-6 * Math.Abs(live[i]),
                $"{what} [{i}]: cached {cached[i]}, live {live[i]}");
    }

    [Fact]
    public void A_segmentation_cache_holds_the_live_teachers_outputs_and_a_run_on_it_gives_the_live_runs_numbers()
    {
        using var temp = new TempFolder();
        var (data, pool) = DenseDistillRunTests.Setup(temp);
        var said = new List<string>();
        var live = RunSegmentation(data, pool, Recipe("unet:4x8", "mtkd-rl-ppo"), live: false, said);
        Assert.StartsWith($"teachers: live (no cache in {pool} for the student's grid 24x24", Assert.Single(said));

        using var backend = BackendCatalog.Create("native");
        var built = new DenseDistillRun(data, pool, TrainingTestCompute.Shared, backend).BuildCache("fcn:4", half: true);
        int columns = data.ClassCount + 1, pixels = 24 * 24;
        Assert.Equal(Path.Combine(pool, "cache-train-24x24.mtkc"), built.Path);
        Assert.Equal((data.Train.Count, 2, CacheDType.F16), (built.Rows, built.Teachers, built.DType));

        // The reference: each teacher run here on three training canvases, its maps turned to pixel rows.
        var manifest = PoolManifest.Read(pool, TaskKind.Segmentation);
        var norm = SceneInputs.Normalization(data.Train);
        int[] images = [0, 17, data.Train.Count - 1];
        var x = new float[images.Length * pixels];
        SceneInputs.Fill(data.Train, norm, images, x, new byte[images.Length * pixels]);
        using (var cache = TeacherCacheFile.Open(built.Path))
        {
            Assert.Equal(("segmentation", new DenseCacheGrid(24, 24, 1, columns), DenseRecordCodec.Name), (cache.Header.Task, cache.Header.Grid, cache.Header.Codec));
            int f = cache.Header.F;
            var zt = new float[2 * images.Length * pixels * columns];
            var ft = new float[images.Length * f];
            cache.Gather(images, zt, ft);
            int offset = 0;
            for (int t = 0; t < 2; t++)
            {
                var teacher = SegmentationCheckpoint.Load(Path.Combine(pool, manifest.Teachers[t].Checkpoint!), TrainingTestCompute.Shared).Model;
                teacher.Forward(x, images.Length, training: false);
                var rows = new float[images.Length * pixels * columns];
                PixelRows.ToRows(teacher.Logits, images.Length, columns, pixels, rows);
                AssertWithinHalf(rows, zt.AsSpan(t * rows.Length, rows.Length), $"teacher {t} logits");
                int d = teacher.EmbeddingWidth;
                var e = teacher.Embedding.ToArray();
                for (int i = 0; i < images.Length; i++)
                    AssertWithinHalf(e.AsSpan(i * d, d), ft.AsSpan(i * f + offset, d), $"teacher {t} embedding of canvas {images[i]}");
                offset += d;
            }
        }

        said.Clear();
        var cached = RunSegmentation(data, pool, Recipe("unet:4x8", "mtkd-rl-ppo"), live: false, said);
        Assert.Equal($"teachers: cached ({built.Path}, f16)", Assert.Single(said));
        Assert.NotEqual(live[0].Loss, cached[0].Loss);
        for (int e = 0; e < 2; e++)
        {
            Assert.Equal(live[e].Loss, cached[e].Loss, 2e-3 * live[e].Loss);
            Assert.Equal(live[e].TestMeanIoU, cached[e].TestMeanIoU, 0.02);
        }
        // The records are compressed losslessly: the same cache stored as it is gives the same run bit for bit.
        var plain = new DenseDistillRun(data, pool, TrainingTestCompute.Shared, backend).BuildCache("fcn:4", half: true, compress: false);
        Assert.True(plain.Bytes > built.Bytes, $"compressed {built.Bytes} bytes, plain {plain.Bytes}");
        using (var check = TeacherCacheFile.Open(plain.Path)) Assert.False(check.Header.Compressed);
        var uncompressed = RunSegmentation(data, pool, Recipe("unet:4x8", "mtkd-rl-ppo"), live: false);
        for (int e = 0; e < 2; e++)
        {
            Assert.Equal(cached[e].Loss, uncompressed[e].Loss);
            Assert.Equal(cached[e].MeanWl, uncompressed[e].MeanWl);
        }
        // float16 rounding is what separates the two runs: a float32 cache gives the live run's numbers to float32
        // rounding. Not bit for bit: the cache runs the teachers in batches of its own size, and on CPUs without
        // AVX-512 the matrix kernels sum in a batch-dependent order (about 3e-9 of the loss after two epochs).
        new DenseDistillRun(data, pool, TrainingTestCompute.Shared, backend).BuildCache("fcn:4", half: false);
        var exact = RunSegmentation(data, pool, Recipe("unet:4x8", "mtkd-rl-ppo"), live: false);
        for (int e = 0; e < 2; e++)
        {
            Assert.Equal(live[e].Loss, exact[e].Loss, 1e-6 * live[e].Loss);
            Assert.Equal(live[e].TestMeanIoU, exact[e].TestMeanIoU, 1e-3);
            Assert.Equal(live[e].MeanWl.Length, exact[e].MeanWl.Length);
            for (int k = 0; k < live[e].MeanWl.Length; k++) Assert.Equal(live[e].MeanWl[k], exact[e].MeanWl[k], 1e-6);
        }
        said.Clear();
        RunSegmentation(data, pool, Recipe("unet:4x8", "aver") with { Epochs = 1 }, live: true, said);
        Assert.Equal("teachers: live (--live-teachers)", Assert.Single(said));
    }

    [Fact]
    public void A_flipped_byte_or_a_cache_of_another_task_is_refused_in_one_line()
    {
        using var temp = new TempFolder();
        var (data, pool) = DenseDistillRunTests.Setup(temp);
        using var backend = BackendCatalog.Create("native");
        string path = new DenseDistillRun(data, pool, TrainingTestCompute.Shared, backend).BuildCache("unet:4x8", half: true).Path;
        var recipe = Recipe("unet:4x8", "aver") with { Epochs = 1 };
        RunSegmentation(data, pool, recipe, live: false);

        var bytes = File.ReadAllBytes(path);
        bytes[^100] ^= 0x10;
        File.WriteAllBytes(path, bytes);
        var corrupt = Assert.Throws<MtkdInputException>(() => RunSegmentation(data, pool, recipe, live: false));
        Assert.StartsWith($"{path}: checksum mismatch", corrupt.Message);
        Assert.DoesNotContain('\n', corrupt.Message);

        // A detection cache of the same grid put where the segmentation run looks for its own.
        TeacherCacheHeader h;
        using (var cache = TeacherCacheFile.Open(new DenseDistillRun(data, pool, TrainingTestCompute.Shared, backend).BuildCache("unet:4x8", half: true).Path))
            h = cache.Header;
        string other = Path.Combine(temp.Root, "other.mtkc");
        using (var writer = new TeacherCacheFile.Writer(other, h with { Task = "detection" }))
        {
            for (int t = 0; t < h.K; t++)
                writer.Write(t, 0, new float[h.Rows * h.Classes], new float[h.Rows * h.Teachers[t].EmbeddingWidth]);
            writer.Commit();
        }
        File.Copy(other, path, overwrite: true);
        var task = Assert.Throws<MtkdInputException>(() => RunSegmentation(data, pool, recipe, live: false));
        Assert.Equal($"{path}: made for detection, but this needs segmentation", task.Message);
    }

    [Fact]
    public void A_detection_cache_on_the_students_grid_gives_the_live_runs_numbers_and_the_cli_builds_it()
    {
        using var temp = new TempFolder();
        var (scenes, dir, pool) = DetectionDistillRunTests.Setup(temp);
        var recipe = Recipe(DetectionDistillRunTests.Student, "mtkd-rl-ppo");
        var live = RunDetection(scenes, pool, recipe, live: true);

        CliRun.AssertOneLineError(CliRun.Run("teachers", "cache", "--pool", pool, "--data", dir, "--threads", "2"), "give --student det:");
        var cli = CliRun.Run("teachers", "cache", "--pool", pool, "--data", dir, "--student", DetectionDistillRunTests.Student, "--float32", "--threads", "2");
        CliRun.AssertOk(cli);
        string path = Path.Combine(pool, $"cache-train-{scenes.Canvas / 4}x{scenes.Canvas / 4}.mtkc");
        Assert.True(File.Exists(path), cli.Out);
        using (var cache = TeacherCacheFile.Open(path))
            Assert.Equal(("detection", 4, CacheDType.F32), (cache.Header.Task, cache.Header.Grid!.Stride, cache.Header.DType));
        var cached = RunDetection(scenes, pool, recipe, live: false);
        // To float32 rounding, as for segmentation above (the cache's batches sum in their own order on some CPUs).
        for (int e = 0; e < 2; e++)
        {
            Assert.Equal(live[e].Loss, cached[e].Loss, 1e-6 * live[e].Loss);
            Assert.Equal(live[e].TestAp, cached[e].TestAp, 1e-3);
            Assert.Equal(live[e].TestAp50, cached[e].TestAp50, 1e-3);
        }
        var run = CliRun.Run("distill", "--data", dir, "--pool", pool, "--student", DetectionDistillRunTests.Student, "--strategy", "aver",
            "--epochs", "1", "--batch", "8", "--threads", "2", "--out", Path.Combine(temp.Root, "run"));
        CliRun.AssertOk(run);
        Assert.Contains($"teachers: cached ({path}, f32)", run.Out);
    }
}
