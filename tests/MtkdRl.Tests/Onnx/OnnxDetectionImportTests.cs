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
/// `teachers import --onnx` on a scenes folder into a detection pool: a detector run through ONNX Runtime scores the AP
/// of the network it was exported from, gives the same location rows whether its outputs are planes or rows, and the
/// dense cache, distillation and `eval` read it as they read a trained detector.
/// </summary>
[Collection("console")]
public sealed class OnnxDetectionImportTests
{
    private static (Detector Detector, ChannelNormalization Normalization) Teacher(string pool, int index)
    {
        var entry = PoolManifest.Read(pool, TaskKind.Detection).Teachers[index];
        var loaded = DetectorCheckpoint.Load(Path.Combine(pool, entry.Checkpoint!), TrainingTestCompute.Shared);
        return (loaded.Detector, loaded.Config.Normalization.ToChannelNormalization());
    }

    /// <summary>The two-detector pool of the detection run tests, and its first teacher exported by mtkd to det.onnx.</summary>
    private static (DetectionScenes Scenes, string Dir, string Pool, Detector Detector, string Onnx) PoolAndExport(TempFolder temp)
    {
        var (scenes, dir, pool) = DetectionDistillRunTests.Setup(temp);
        var (detector, normalization) = Teacher(pool, 0);
        string onnx = temp.File("det.onnx");
        OnnxExporter.Write(onnx, detector, normalization);
        return (scenes, dir, pool, detector, onnx);
    }

    /// <summary>The detector's outputs as planes [N, K, Hg, Wg] (what a convolutional head makes), named <paramref name="names"/>, with no embedding output.</summary>
    private static ModelProto AsPlanes(Detector detector, ChannelNormalization normalization, params string[] names)
    {
        var proto = OnnxExporter.Build(detector, normalization);
        var graph = proto.Graph;
        string[] rows = [OnnxExporter.LogitsName, OnnxExporter.BoxesName];
        long[] widths = [detector.ClassColumns, BoxCoding.Outputs];
        for (int i = 0; i < 2; i++)
        {
            // rows = Flatten(Transpose(planes)): the planes are the Transpose's input.
            var flatten = graph.Node.Single(n => n.Output.Contains(rows[i]));
            var transpose = graph.Node.Single(n => n.Output.Contains(flatten.Input[0]));
            graph.Node.Remove(flatten);
            graph.Node.Remove(transpose);
            var identity = new NodeProto { OpType = "Identity", Name = names[i] + ".out" };
            identity.Input.Add(transpose.Input[0]);
            identity.Output.Add(names[i]);
            graph.Node.Add(identity);
            graph.Output.Remove(graph.Output.Single(o => o.Name == rows[i]));
            graph.Output.Insert(i, OnnxExporter.TensorInfo(names[i], "N", widths[i], detector.GridHeight, detector.GridWidth));
        }
        graph.Output.Remove(graph.Output.Single(o => o.Name == OnnxExporter.EmbeddingName));
        return proto;
    }

    [Fact]
    public void An_exported_detector_imports_with_its_ap_and_caches_its_own_class_logits()
    {
        using var temp = new TempFolder();
        var (scenes, _, pool, detector, onnx) = PoolAndExport(temp);
        var result = OnnxDetectionImport.Import(pool, "det-onnx", scenes, new OnnxImportOptions(onnx, new OnnxBindings(), Threads: 1));

        var trained = PoolManifest.Read(pool, TaskKind.Detection).Teachers[0];
        Assert.Equal("output 'embedding'", result.EmbeddingSource);
        Assert.Equal("16x16 locations at stride 4; logits as location rows, boxes as location rows", result.Layout);
        Assert.Equal((TeacherKind.Imported, OnnxTeacherImport.Spec, detector.EmbeddingWidth), (result.Entry.Kind, result.Entry.Spec, result.Entry.EmbeddingWidth));
        Assert.Equal(OnnxExporter.BoxesName, result.Entry.Onnx!.Boxes);
        Assert.Equal(trained.TestAccuracy, result.Entry.TestAccuracy, 1e-3);
        Assert.Equal(File.ReadAllBytes(onnx), File.ReadAllBytes(Path.Combine(pool, "det-onnx.onnx")));

        // The float32 cache holds the same class rows and embedding for the trained detector (0) and its ONNX copy (2).
        using var backend = BackendCatalog.Create("native");
        var built = new DetectionDistillRun(scenes, pool, TrainingTestCompute.Shared, backend).BuildCache(DetectionDistillRunTests.Student, half: false);
        Assert.Equal(3, built.Teachers);
        using (var cache = TeacherCacheFile.Open(built.Path))
        {
            int[] images = [0, 9, scenes.Train.Count - 1];
            int rows = images.Length * cache.Header.Classes, f = cache.Header.F;  // Classes: an image's rows x columns
            var zt = new float[3 * rows];
            var ft = new float[images.Length * f];
            cache.Gather(images, zt, ft);
            Assert.True(OnnxTestModels.RelativeError(zt.AsSpan(2 * rows, rows), zt.AsSpan(0, rows)) <= 1e-4);
            int d = detector.EmbeddingWidth, onnxAt = f - d;
            for (int i = 0; i < images.Length; i++)
                Assert.True(OnnxTestModels.RelativeError(ft.AsSpan(i * f + onnxAt, d), ft.AsSpan(i * f, d)) <= 1e-4, $"embedding of canvas {images[i]}");
        }

        // A run distils from all three, cached and live, to the same numbers up to the cache's rounding.
        var losses = new List<double>();
        foreach (bool live in new[] { false, true })
        {
            var run = new DetectionDistillRun(scenes, pool, TrainingTestCompute.Shared, backend) { Teachers = new DenseTeacherOptions(live) };
            var epoch = Assert.Single(run.Run(new DistillRecipe { Student = DetectionDistillRunTests.Student, Strategy = "mtkd-rl-ppo", Epochs = 1, BatchSize = 8, Seed = 3 }));
            Assert.True(double.IsFinite(epoch.Loss) && epoch.MeanWl.Length == 3, $"live {live}: loss {epoch.Loss}, {epoch.MeanWl.Length} weights");
            losses.Add(epoch.Loss);
        }
        Assert.Equal(losses[0], losses[1], 1e-3 * Math.Abs(losses[0]));
    }

    [Fact]
    public void Planes_without_an_embedding_give_the_detectors_rows_and_the_means_of_the_features_its_class_head_reads()
    {
        using var temp = new TempFolder();
        var (scenes, _, pool, detector, _) = PoolAndExport(temp);
        var normalization = Teacher(pool, 0).Normalization;
        string onnx = temp.File("planes.onnx");
        File.WriteAllBytes(onnx, AsPlanes(detector, normalization, "class_maps", "box_maps").ToByteArray());

        // No output is called boxes: the only other output of four planes is taken.
        var result = OnnxDetectionImport.Import(pool, "planes", scenes, new OnnxImportOptions(onnx, new OnnxBindings(), Threads: 1));
        Assert.Contains("the channel means of tensor", result.EmbeddingSource);
        Assert.Contains("the input of the Conv", result.EmbeddingSource);
        Assert.Equal("16x16 locations at stride 4; logits as planes, boxes as planes", result.Layout);
        Assert.Equal(("class_maps", "box_maps"), (result.Entry.Onnx!.Logits, result.Entry.Onnx.Boxes));

        // mtkd's embedding is the global average of the features both heads read: the tap finds exactly it.
        using var teacher = OnnxDetectionTeacher.Open(pool, result.Entry, scenes, threads: 1);
        int n = 5, size = scenes.InputShape.Size;
        var x = new float[n * size];
        var (mean, std) = scenes.Normalization();
        for (int i = 0; i < n; i++) scenes.Fill(scenes.Test, i % scenes.Test.Count, mean, std, flip: i >= scenes.Test.Count, x.AsSpan(i * size, size));
        teacher.Infer(x, n);
        detector.Infer(x, n);
        foreach (var (what, got, want) in new[] { ("class rows", teacher.ClassLogits.ToArray(), detector.ClassLogits.ToArray()),
                     ("box rows", teacher.BoxOutputs.ToArray(), detector.BoxOutputs.ToArray()), ("embedding", teacher.Embedding.ToArray(), detector.Embedding.ToArray()) })
        {
            Assert.Equal(want.Length, got.Length);
            Assert.True(OnnxTestModels.RelativeError(got, want) <= 1e-4, $"{what}: {OnnxTestModels.RelativeError(got, want):E2}");
        }
        Assert.Equal(PoolManifest.Read(pool, TaskKind.Detection).Teachers[0].TestAccuracy, result.Entry.TestAccuracy, 1e-3);
    }

    [Fact]
    public void Outputs_that_are_not_a_detectors_are_refused_in_one_line()
    {
        using var temp = new TempFolder();
        var (scenes, _, pool, detector, _) = PoolAndExport(temp);
        var normalization = Teacher(pool, 0).Normalization;
        string before = File.ReadAllText(PoolManifest.PathIn(pool));
        void Refused(ModelProto proto, string expected, OnnxBindings? bindings = null)
        {
            string onnx = temp.File("refused.onnx");
            File.WriteAllBytes(onnx, proto.ToByteArray());
            var e = Assert.Throws<MtkdInputException>(() =>
                OnnxDetectionImport.Import(pool, "refused", scenes, new OnnxImportOptions(onnx, bindings ?? new OnnxBindings(), Threads: 1)));
            Assert.True(e.Message.Contains(expected, StringComparison.Ordinal) && !e.Message.Contains('\n'), $"expected '{expected}' in one line: {e.Message}");
        }

        // No box output at all.
        var noBoxes = OnnxExporter.Build(detector, normalization);
        noBoxes.Graph.Output.Remove(noBoxes.Graph.Output.Single(o => o.Name == OnnxExporter.BoxesName));
        Refused(noBoxes, "no output holds box outputs");
        Refused(OnnxExporter.Build(detector, normalization), "no output named 'bbox' (--boxes", new OnnxBindings(Boxes: "bbox"));

        // Planes whose grid does not divide the canvas: the box planes cut to 15 x 15 by a Slice.
        var cut = AsPlanes(detector, normalization, "class_maps", "box_maps");
        var reg = cut.Graph.Node.Single(n => n.Output.Contains("box_maps"));
        string source = reg.Input[0];
        reg.Input[0] = "box_maps.cut";
        var starts = OnnxConstant(cut.Graph, "cut.starts", 0, 0);
        var ends = OnnxConstant(cut.Graph, "cut.ends", 15, 15);
        var axes = OnnxConstant(cut.Graph, "cut.axes", 2, 3);
        var slice = new NodeProto { OpType = "Slice", Name = "box_maps.cut" };
        slice.Input.Add(source);
        slice.Input.Add(starts);
        slice.Input.Add(ends);
        slice.Input.Add(axes);
        slice.Output.Add("box_maps.cut");
        cut.Graph.Node.Insert(cut.Graph.Node.IndexOf(reg), slice);
        cut.Graph.Output.Remove(cut.Graph.Output.Single(o => o.Name == "box_maps"));
        cut.Graph.Output.Add(OnnxExporter.TensorInfo("box_maps", "N", 4, 15, 15));
        Refused(cut, "logits 'class_maps' are on a 16x16 grid and boxes 'box_maps' on 15x15");

        // A segmentation network, by what mtkd wrote into it.
        var unet = ModelSpec.Parse("unet:4x8").BuildSegmentation(scenes.InputShape, scenes.ClassCount + 1, TrainingTestCompute.Shared, new Rng(1));
        Refused(OnnxExporter.Build(unet, normalization), "made for segmentation, but this needs detection");
        Assert.Equal(before, File.ReadAllText(PoolManifest.PathIn(pool)));
        Assert.False(File.Exists(Path.Combine(pool, "refused.onnx")));
    }

    private static string OnnxConstant(GraphProto graph, string name, params long[] values)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        tensor.Dims.Add(values.Length);
        tensor.Int64Data.AddRange(values);
        graph.Initializer.Add(tensor);
        return name;
    }

    [Fact]
    public void The_cli_imports_evaluates_and_refuses_in_one_line()
    {
        using var temp = new TempFolder();
        var (scenes, dir, pool, _, onnx) = PoolAndExport(temp);

        // Into a new pool: the model says it is a detector.
        string fresh = Path.Combine(temp.Root, "fresh");
        var import = Run("teachers", "import", "--pool", fresh, "--name", "det-onnx", "--onnx", onnx, "--data", dir, "--threads", "1");
        AssertOk(import);
        Assert.Contains("imported ONNX teacher 'det-onnx'", import.Out);
        Assert.Contains("test AP", import.Out);
        Assert.Contains("outputs: 16x16 locations at stride 4", import.Out);
        Assert.Equal("detection", PoolManifest.Read(fresh, TaskKind.Detection).Task);

        // eval of the imported detector prints what eval of the checkpoint prints, and writes the same detections.
        AssertOk(Run("teachers", "import", "--pool", pool, "--name", "det-onnx", "--onnx", onnx, "--data", dir, "--threads", "1"));
        string trained = PoolManifest.Read(pool, TaskKind.Detection).Teachers[0].Name;
        string Line(string output) => output.Split('\n').Single(l => l.StartsWith("AP ", StringComparison.Ordinal));
        var viaOnnx = Run("eval", "--model", Path.Combine(pool, "det-onnx"), "--data", dir, "--threads", "1", "--detections", temp.File("onnx.json"));
        var viaCheckpoint = Run("eval", "--model", Path.Combine(pool, trained), "--data", dir, "--threads", "1", "--detections", temp.File("checkpoint.json"));
        AssertOk(viaOnnx);
        AssertOk(viaCheckpoint);
        Assert.Equal(Line(viaCheckpoint.Out), Line(viaOnnx.Out));
        Assert.Contains("imported ONNX detector", viaOnnx.Out);
        Assert.Equal(CocoFiles.ReadDetections(temp.File("checkpoint.json"), scenes.Test.Instances).Count,
            CocoFiles.ReadDetections(temp.File("onnx.json"), scenes.Test.Instances).Count);
        AssertOneLineError(Run("eval", "--model", Path.Combine(pool, "det-onnx")), "--data must name a scenes folder");

        // `distill` from the pool with the imported detector, cached.
        AssertOk(Run("teachers", "cache", "--pool", pool, "--data", dir, "--student", DetectionDistillRunTests.Student, "--threads", "1"));
        var distill = Run("distill", "--data", dir, "--pool", pool, "--student", DetectionDistillRunTests.Student, "--strategy", "mtkd-rl-ppo",
            "--epochs", "1", "--batch", "8", "--threads", "1", "--out", Path.Combine(temp.Root, "run"));
        AssertOk(distill);
        Assert.Contains("test AP", distill.Out);

        // A recipe cannot train over the imported detector, nor an import replace a trained one.
        string recipe = temp.File("recipe.json");
        File.WriteAllText(recipe, """{ "task": "detection", "teachers": [ { "name": "det-onnx", "spec": "det:4x4x4", "epochs": 1, "batch": 8 } ] }""");
        AssertOneLineError(Run("teachers", "train", "--pool", pool, "--data", dir, "--recipe", recipe), "'det-onnx' is an imported teacher");
        AssertOneLineError(Run("teachers", "import", "--pool", pool, "--name", trained, "--onnx", onnx, "--data", dir), "already a trained teacher");

        // --boxes goes with a detection pool only; a segmentation pool names the flag in its refusal of a detector's grid.
        using var segTemp = new TempFolder();
        var (segData, segPool) = DenseDistillRunTests.Setup(segTemp);
        AssertOneLineError(Run("teachers", "import", "--pool", segPool, "--name", "x", "--onnx", onnx, "--data", segData.Source, "--boxes", "boxes"),
            "--boxes goes with a detector");
        string planes = temp.File("planes.onnx");
        var (detector, normalization) = Teacher(pool, 0);
        var proto = AsPlanes(detector, normalization, "class_maps", "box_maps");
        proto.MetadataProps.Clear();  // as another framework writes it: nothing says it is a detector
        File.WriteAllBytes(planes, proto.ToByteArray());
        AssertOneLineError(Run("teachers", "import", "--pool", Path.Combine(temp.Root, "new"), "--name", "x", "--onnx", planes, "--data", dir),
            "if it is a detector, name its box output with --boxes");
        Assert.False(Directory.Exists(Path.Combine(temp.Root, "new")) && File.Exists(PoolManifest.PathIn(Path.Combine(temp.Root, "new"))));
        AssertOk(Run("teachers", "import", "--pool", Path.Combine(temp.Root, "new"), "--name", "x", "--onnx", planes, "--data", dir, "--boxes", "box_maps"));
    }
}
