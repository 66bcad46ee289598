using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Data.Batching;
using MtkdRl.Distillation;
using MtkdRl.Onnx;
using MtkdRl.Teachers;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Distillation;
using MtkdRl.Tests.Training;
using MtkdRl.Training;
using static MtkdRl.Tests.Cli.CliRun;

namespace MtkdRl.Tests.Onnx;

/// <summary>
/// A segmentation teacher that answers with the flip test (`teachers import --onnx ... --flip-test`): its logit maps
/// are (f(x) + M f(M x)) / 2 for the left-right mirror M, checked in float64 from the network's own two answers; its
/// recorded mIoU is the flip test's; the cache holds those maps; the pool's fingerprint and `eval` know it.
/// </summary>
[Collection("console")]
public sealed class FlipTestTeacherTests
{
    private const int Canvas = 16;

    private static float[] MirroredRows(ReadOnlySpan<float> values, int width)
    {
        var m = new float[values.Length];
        for (int i = 0; i < values.Length; i++) m[i] = values[i / width * width + width - 1 - i % width];
        return m;
    }

    [Fact]
    public void The_answer_is_the_mean_of_the_canvas_and_of_its_mirror_mirrored_back()
    {
        var network = ModelSpec.Parse("unet:4x8").BuildSegmentation(SampleShape.Image(2, Canvas, Canvas), 5, TrainingTestCompute.Shared, new Rng(7));
        int n = 3, size = network.InputShape.Size, C = network.Classes, P = network.Pixels, D = network.EmbeddingWidth;
        var rng = new Random(11);
        var x = new float[n * size];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        var mx = MirroredRows(x, Canvas);

        network.Infer(x, n);
        var logits = network.Logits[..(n * C * P)].ToArray();
        var embedding = network.Embedding[..(n * D)].ToArray();
        network.Infer(mx, n);
        var mirroredBack = MirroredRows(network.Logits[..(n * C * P)], Canvas);
        var mirroredEmbedding = network.Embedding[..(n * D)].ToArray();

        var flip = FlipTestTeacher.Of(network);
        Assert.Same(flip, FlipTestTeacher.Of(flip));
        flip.Infer(x, n);
        for (int i = 0; i < n * C * P; i++)
        {
            double want = 0.5 * ((double)logits[i] + mirroredBack[i]);
            Assert.True(Math.Abs(flip.Logits[i] - want) <= 1e-6 * (1 + Math.Abs(want)), $"logit {i}: {flip.Logits[i]} against {want}");
        }
        for (int i = 0; i < n * D; i++)
            Assert.Equal(0.5 * ((double)embedding[i] + mirroredEmbedding[i]), flip.Embedding[i], 1e-6);
        Assert.True(logits.Zip(flip.Logits.ToArray()).Any(p => Math.Abs(p.First - p.Second) > 1e-3), "an untrained network is not mirror-symmetric");

        // Exactly equivariant: the answer on the mirrored canvases is the mirrored answer, to the bit.
        var answer = flip.Logits.ToArray();
        flip.Infer(mx, n);
        Assert.Equal(MirroredRows(answer, Canvas), flip.Logits.ToArray());
    }

    [Fact]
    public void An_import_with_the_flip_test_scores_caches_and_fingerprints_the_flip_test()
    {
        using var temp = new TempFolder();
        var (data, pool, model, onnx) = OnnxSegmentationImportTests.PoolAndExport(temp, mirrorInvariant: true);

        var plain = OnnxSegmentationImport.Import(pool, "plain", data, new OnnxImportOptions(onnx, new OnnxBindings(), Threads: 1)).Entry;
        var (poolBefore, _) = PoolFingerprint.Compute(pool, PoolManifest.Read(pool, TaskKind.Segmentation));
        var flip = OnnxSegmentationImport.Import(pool, "flip", data, new OnnxImportOptions(onnx, new OnnxBindings(), Threads: 1, FlipTest: true)).Entry;

        var scenes = MtkdRl.Teachers.SceneInputs.Normalization(data.Train);
        double flipMiou = SegmentationEvaluator.Evaluate(model, data.Test, scenes, flip: true).MeanIoU;
        Assert.False(plain.FlipTest);
        Assert.True(flip.FlipTest);
        Assert.Equal(flipMiou, flip.TestAccuracy, 1e-3);
        string json = File.ReadAllText(PoolManifest.PathIn(pool));
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(json, "\"flip_test\": true"));
        Assert.True(PoolManifest.Read(pool, TaskKind.Segmentation).Teachers.Single(t => t.Name == "flip").FlipTest);

        // The flag is part of the pool's fingerprint: the same model without it is another pool state.
        var manifest = PoolManifest.Read(pool, TaskKind.Segmentation);
        var (withFlag, _) = PoolFingerprint.Compute(pool, manifest);
        var (withoutFlag, _) = PoolFingerprint.Compute(pool, manifest with { Teachers = [.. manifest.Teachers.Select(t => t with { FlipTest = false })] });
        Assert.NotEqual(withFlag, withoutFlag);
        Assert.NotEqual(poolBefore, withFlag);

        // The float32 cache: teacher 2 ("plain") holds f's maps, teacher 3 ("flip") the flip test's, as the managed network gives them.
        using var backend = BackendCatalog.Create("native");
        var built = new DenseDistillRun(data, pool, TrainingTestCompute.Shared, backend).BuildCache("unet:4x8", half: false);
        Assert.Equal(4, built.Teachers);
        using var cache = TeacherCacheFile.Open(built.Path);
        int[] images = [0, 7, data.Train.Count - 1];
        int rows = cache.Header.Classes, f = cache.Header.F, d = model.EmbeddingWidth, C = model.Classes, P = model.Pixels;
        var zt = new float[4 * images.Length * rows];
        var ft = new float[images.Length * f];
        cache.Gather(images, zt, ft);
        var x = new float[images.Length * model.InputShape.Size];
        MtkdRl.Teachers.SceneInputs.Fill(data.Train, scenes, images, x, new byte[images.Length * P]);
        var flipTeacher = FlipTestTeacher.Of(model);
        flipTeacher.Infer(x, images.Length);
        var want = new float[images.Length * rows];
        PixelRows.ToRows(flipTeacher.Logits, images.Length, C, P, want);
        var flipRows = zt.AsSpan(3 * images.Length * rows, images.Length * rows);
        var plainRows = zt.AsSpan(2 * images.Length * rows, images.Length * rows);
        Assert.True(OnnxTestModels.RelativeError(flipRows, want) <= 1e-4, $"flip rows: relative error {OnnxTestModels.RelativeError(flipRows, want)}");
        Assert.True(OnnxTestModels.RelativeError(plainRows, want) > 1e-3, "the plain teacher's rows are not the flip test's");
        for (int i = 0; i < images.Length; i++)
            Assert.True(OnnxTestModels.RelativeError(ft.AsSpan(i * f + f - d, d), flipTeacher.Embedding.Slice(i * d, d)) <= 1e-4, $"embedding of canvas {images[i]}");
    }

    [Fact]
    public void The_cli_imports_with_the_flip_test_evaluates_it_so_and_refuses_it_where_it_does_not_belong()
    {
        using var temp = new TempFolder();
        var (_, pool, _, onnx) = OnnxSegmentationImportTests.PoolAndExport(temp, mirrorInvariant: true);
        string scenes = Path.Combine(temp.Root, "scenes");
        string first = PoolManifest.Read(pool, TaskKind.Segmentation).Teachers[0].Name;

        var import = Run("teachers", "import", "--pool", pool, "--name", "flip", "--onnx", onnx, "--data", scenes, "--threads", "1", "--flip-test");
        AssertOk(import);
        Assert.Contains("(flip test)", import.Out);
        string Line(string output) => output.Split('\n').Single(l => l.StartsWith("test", StringComparison.Ordinal) && l.Contains("mIoU"));
        var served = Run("eval", "--model", Path.Combine(pool, "flip"), "--data", scenes, "--threads", "1");
        var flipped = Run("eval", "--model", Path.Combine(pool, first), "--data", scenes, "--threads", "1", "--flip");
        AssertOk(served);
        AssertOk(flipped);
        Assert.Contains("answers with the flip test", served.Out);
        Assert.Equal(Line(flipped.Out).Replace(" (flip test)", ""), Line(served.Out));

        // Not on scenes whose classes are not mirror-invariant, nor on a classification pool; the pool is left as it was.
        using var other = new TempFolder();
        var (_, ringsPool) = DenseDistillRunTests.Setup(other);
        string before = File.ReadAllText(PoolManifest.PathIn(ringsPool));
        AssertOneLineError(Run("teachers", "import", "--pool", ringsPool, "--name", "flip", "--onnx", onnx, "--data", Path.Combine(other.Root, "scenes"), "--flip-test"),
            "not mirror-invariant");
        Assert.Equal(before, File.ReadAllText(PoolManifest.PathIn(ringsPool)));
        var classifier = OnnxTestModels.Random("mlp:8", SampleShape.Image(1, 28, 28), 10, seed: 1);
        string flat = temp.File("mlp.onnx");
        OnnxExporter.Write(flat, classifier, ChannelNormalization.Unit(1));
        AssertOneLineError(Run("teachers", "import", "--pool", temp.Sub("classes"), "--name", "mlp", "--onnx", flat, "--flip-test",
            "--data", Path.Combine(RepositoryPaths.Root, MtkdRl.Data.Datasets.DatasetLocator.CommittedSlice)), "--flip-test goes with a segmentation teacher");

        // A pool.json that gives the flag to a detector is refused when read.
        string detection = File.ReadAllText(PoolManifest.PathIn(pool)).Replace("\"task\": \"segmentation\"", "\"task\": \"detection\"");
        File.WriteAllText(PoolManifest.PathIn(pool), detection);
        var error = Assert.Throws<MtkdInputException>(() => PoolManifest.Read(pool, null));
        Assert.Contains("flip_test is for segmentation teachers", error.Message);
    }
}
