using Google.Protobuf;
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
using Onnx;
using static MtkdRl.Tests.Cli.CliRun;

namespace MtkdRl.Tests.Onnx;

/// <summary>
/// `teachers import --onnx` on a scenes folder: a segmentation teacher run through ONNX Runtime scores the mIoU of the
/// network it was exported from, and the dense cache and distillation read the same logit maps from it.
/// </summary>
[Collection("console")]
public sealed class OnnxSegmentationImportTests
{
    private static (SegmentationModel Model, ChannelNormalization Normalization) Teacher(string pool, int index)
    {
        var entry = PoolManifest.Read(pool, TaskKind.Segmentation).Teachers[index];
        var (model, config) = SegmentationCheckpoint.Load(Path.Combine(pool, entry.Checkpoint!), TrainingTestCompute.Shared);
        return (model, config.Normalization.ToChannelNormalization());
    }

    /// <summary>A tiny segmentation pool on ring scenes, and its first teacher exported by mtkd to unet.onnx in <paramref name="temp"/>.</summary>
    /// <param name="mirrorInvariant">The scenes say their classes are mirror-invariant (<see cref="DenseDistillRunTests.Setup"/>).</param>
    internal static (MtkdRl.Data.Scenes.SceneDataset Data, string Pool, SegmentationModel Model, string Onnx) PoolAndExport(TempFolder temp, bool mirrorInvariant = false)
    {
        var (data, pool) = DenseDistillRunTests.Setup(temp, mirrorInvariant);
        var (model, normalization) = Teacher(pool, 0);
        string onnx = temp.File("unet.onnx");
        OnnxExporter.Write(onnx, model, normalization);
        return (data, pool, model, onnx);
    }

    [Fact]
    public void An_exported_segmentation_teacher_imports_with_its_miou_and_caches_its_own_logit_maps()
    {
        using var temp = new TempFolder();
        var (data, pool, model, onnx) = PoolAndExport(temp);
        var result = OnnxSegmentationImport.Import(pool, "unet-onnx", data, new OnnxImportOptions(onnx, new OnnxBindings(), Threads: 1));

        var trained = PoolManifest.Read(pool, TaskKind.Segmentation).Teachers[0];
        Assert.Equal("output 'embedding'", result.EmbeddingSource);
        Assert.Equal("the normalisation mtkd exported with the model", result.NormalizationSource);
        Assert.Equal((TeacherKind.Imported, OnnxTeacherImport.Spec, model.EmbeddingWidth), (result.Entry.Kind, result.Entry.Spec, result.Entry.EmbeddingWidth));
        Assert.Equal(trained.TestAccuracy, result.Entry.TestAccuracy, 1e-3);
        Assert.Equal(File.ReadAllBytes(onnx), File.ReadAllBytes(Path.Combine(pool, "unet-onnx.onnx")));

        // The float32 cache holds the same rows and embedding for the trained teacher (0) and its ONNX copy (2).
        using var backend = BackendCatalog.Create("native");
        var built = new DenseDistillRun(data, pool, TrainingTestCompute.Shared, backend).BuildCache("unet:4x8", half: false);
        Assert.Equal(3, built.Teachers);
        using (var cache = TeacherCacheFile.Open(built.Path))
        {
            int[] images = [0, 9, data.Train.Count - 1];
            int rows = images.Length * cache.Header.Classes, f = cache.Header.F;  // Classes: an image's rows x columns
            var zt = new float[3 * rows];
            var ft = new float[images.Length * f];
            cache.Gather(images, zt, ft);
            Assert.True(OnnxTestModels.RelativeError(zt.AsSpan(2 * rows, rows), zt.AsSpan(0, rows)) <= 1e-4);
            int d = model.EmbeddingWidth, onnxAt = f - d;
            for (int i = 0; i < images.Length; i++)
                Assert.True(OnnxTestModels.RelativeError(ft.AsSpan(i * f + onnxAt, d), ft.AsSpan(i * f, d)) <= 1e-4, $"embedding of canvas {images[i]}");
        }

        // A run distils from all three, cached and live.
        foreach (bool live in new[] { false, true })
        {
            var run = new DenseDistillRun(data, pool, TrainingTestCompute.Shared, backend) { Teachers = new DenseTeacherOptions(live) };
            var epoch = Assert.Single(run.Run(new DistillRecipe { Student = "unet:4x8", Strategy = "mtkd-rl-ppo", Epochs = 1, BatchSize = 8, Seed = 3 }));
            Assert.True(double.IsFinite(epoch.Loss) && epoch.MeanWl.Length == 3, $"live {live}: loss {epoch.Loss}, {epoch.MeanWl.Length} weights");
        }
    }

    [Fact]
    public void Logit_maps_alone_take_the_channel_means_of_the_map_the_last_conv_reads()
    {
        using var temp = new TempFolder();
        var (data, pool) = DenseDistillRunTests.Setup(temp);
        var (model, normalization) = Teacher(pool, 0);
        var proto = OnnxExporter.Build(model, normalization);
        proto.Graph.Output.Remove(proto.Graph.Output.Single(o => o.Name == OnnxExporter.EmbeddingName));
        string onnx = temp.File("maps-only.onnx");
        File.WriteAllBytes(onnx, proto.ToByteArray());
        var result = OnnxSegmentationImport.Import(pool, "maps", data, new OnnxImportOptions(onnx, new OnnxBindings(), Threads: 1));
        Assert.Contains("the channel means of tensor", result.EmbeddingSource);
        Assert.Contains("the input of the Conv", result.EmbeddingSource);

        // The head is a 1x1 convolution, so each map's mean over the pixels is W e + b for the embedding e found.
        var head = Assert.IsType<Conv2d>(model.Head[0]);
        int C = model.Classes, D = result.Entry.EmbeddingWidth, P = model.Pixels;
        Assert.Equal(head.Weight.Value.Length, C * D);
        var canvas = SampleShape.Image(data.Train.Channels, data.Train.Canvas, data.Train.Canvas);
        var scenes = SceneInputs.Normalization(data.Train);
        using var teacher = OnnxSegmentationTeacher.Open(pool, result.Entry, canvas, C, scenes, threads: 1);
        int n = 4;
        var x = new float[n * canvas.Size];
        SceneInputs.Fill(data.Test, scenes, [0, 1, 2, 3], x, new byte[n * P]);
        teacher.Infer(x, n);
        for (int i = 0; i < n; i++)
            for (int c = 0; c < C; c++)
            {
                double mean = 0, affine = head.Bias!.Value[c];
                for (int p = 0; p < P; p++) mean += teacher.Logits[(i * C + c) * P + p];
                for (int k = 0; k < D; k++) affine += head.Weight.Value[c * D + k] * (double)teacher.Embedding[i * D + k];
                Assert.True(Math.Abs(mean / P - affine) <= 1e-4 * (1 + Math.Abs(affine)), $"canvas {i}, class {c}: map mean {mean / P}, W e + b {affine}");
            }
    }

    [Fact]
    public void A_second_output_that_is_a_map_gives_its_channel_means()
    {
        // As torchvision's segmentation models export: "out" and an auxiliary map "aux", both [N, C+1, S, S].
        using var temp = new TempFolder();
        var (data, pool, model, _) = PoolAndExport(temp);
        var proto = OnnxExporter.Build(model, Teacher(pool, 0).Normalization);
        var graph = proto.Graph;
        var aux = graph.Output.Single(o => o.Name == OnnxExporter.LogitsName).Clone();
        aux.Name = "aux";
        graph.Output.Remove(graph.Output.Single(o => o.Name == OnnxExporter.EmbeddingName));
        graph.Output.Add(aux);
        var copy = new NodeProto { OpType = "Identity", Name = "aux" };
        copy.Input.Add(OnnxExporter.LogitsName);
        copy.Output.Add("aux");
        graph.Node.Add(copy);
        string onnx = temp.File("aux.onnx");
        File.WriteAllBytes(onnx, proto.ToByteArray());

        var result = OnnxSegmentationImport.Import(pool, "aux", data, new OnnxImportOptions(onnx, new OnnxBindings(), Threads: 1));
        int C = model.Classes, P = model.Pixels;
        Assert.Equal("the channel means of output 'aux'", result.EmbeddingSource);
        Assert.Equal(C, result.Entry.EmbeddingWidth);
        var canvas = SampleShape.Image(data.Train.Channels, data.Train.Canvas, data.Train.Canvas);
        var scenes = SceneInputs.Normalization(data.Train);
        using var teacher = OnnxSegmentationTeacher.Open(pool, result.Entry, canvas, C, scenes, threads: 1);
        var x = new float[2 * canvas.Size];
        SceneInputs.Fill(data.Test, scenes, [0, 1], x, new byte[2 * P]);
        teacher.Infer(x, 2);
        for (int i = 0; i < 2 * C; i++)
        {
            double mean = 0;
            for (int p = 0; p < P; p++) mean += teacher.Logits[i * P + p];
            Assert.Equal(mean / P, teacher.Embedding[i], 1e-4 * (1 + Math.Abs(mean / P)));
        }
    }

    [Fact]
    public void The_cli_imports_evaluates_and_refuses_a_classifier_in_one_line()
    {
        using var temp = new TempFolder();
        var (data, pool, _, onnx) = PoolAndExport(temp);
        string scenes = Path.Combine(temp.Root, "scenes");
        var import = Run("teachers", "import", "--pool", pool, "--name", "unet-onnx", "--onnx", onnx, "--data", scenes, "--threads", "1");
        AssertOk(import);
        Assert.Contains("imported ONNX teacher 'unet-onnx'", import.Out);
        Assert.Contains("test mIoU", import.Out);

        string Line(string output) => output.Split('\n').Single(l => l.StartsWith("test:", StringComparison.Ordinal));
        var viaOnnx = Run("eval", "--model", Path.Combine(pool, "unet-onnx"), "--data", scenes, "--threads", "1");
        var viaCheckpoint = Run("eval", "--model", Path.Combine(pool, PoolManifest.Read(pool, TaskKind.Segmentation).Teachers[0].Name), "--data", scenes, "--threads", "1");
        AssertOk(viaOnnx);
        AssertOk(viaCheckpoint);
        Assert.Equal(Line(viaCheckpoint.Out), Line(viaOnnx.Out));
        Assert.Contains("imported ONNX teacher", viaOnnx.Out);
        AssertOneLineError(Run("eval", "--model", Path.Combine(pool, "unet-onnx")), "--data must be its scenes folder");

        // A recipe cannot train over the imported teacher, nor an import replace a trained one.
        string recipe = temp.File("recipe.json");
        File.WriteAllText(recipe, """{ "teachers": [ { "name": "unet-onnx", "spec": "unet:4x8", "epochs": 1, "batch": 8 } ] }""");
        AssertOneLineError(Run("teachers", "train", "--pool", pool, "--data", scenes, "--recipe", recipe), "'unet-onnx' is an imported teacher");
        string trainedName = PoolManifest.Read(pool, TaskKind.Segmentation).Teachers[0].Name;
        AssertOneLineError(Run("teachers", "import", "--pool", pool, "--name", trainedName, "--onnx", onnx, "--data", scenes), "already a trained teacher");

        // A classifier's logits [N,C] are not maps: refused, and the pool is as it was.
        string before = File.ReadAllText(PoolManifest.PathIn(pool));
        var classifier = OnnxTestModels.Random("mlp:8", SampleShape.Image(1, 24, 24), data.ClassCount + 1, seed: 1);
        string flat = temp.File("mlp.onnx");
        OnnxExporter.Write(flat, classifier, ChannelNormalization.Unit(1));
        AssertOneLineError(Run("teachers", "import", "--pool", pool, "--name", "mlp", "--onnx", flat, "--data", scenes), "made for classification, but this needs segmentation");
        Assert.Equal(before, File.ReadAllText(PoolManifest.PathIn(pool)));
        Assert.False(File.Exists(Path.Combine(pool, "mlp.onnx")));
    }
}
