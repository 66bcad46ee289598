using System.Text.Json;
using MtkdRl.Data.Datasets;
using MtkdRl.Core.Formats;
using MtkdRl.Data.Formats;
using MtkdRl.Onnx;
using MtkdRl.Teachers;
using MtkdRl.Tests.Cli;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Teachers;

namespace MtkdRl.Tests.Onnx;

/// <summary>
/// A teacher no mtkd code wrote: the small CNN tests/fixtures/onnx/train_torch_cnn.py trained and exported in PyTorch,
/// imported into a pool on the slice, scores the test accuracy PyTorch measured.
/// </summary>
public sealed class TorchTeacherTests
{
    private static string Fixture(string name) => Path.Combine(RepositoryPaths.Root, "tests", "fixtures", "onnx", name);

    /// <summary>Scenes made from the committed slice with <paramref name="options"/> into FOLDER/scenes (the generator is deterministic).</summary>
    private static string SliceScenes(TempFolder folder, params string[] options)
    {
        string dir = Path.Combine(folder.Root, "scenes");
        CliRun.AssertOk(CliRun.Run(["data", "scenes", "--from", Path.Combine(RepositoryPaths.Root, DatasetLocator.CommittedSlice), "--out", dir, .. options]));
        return dir;
    }

    [Fact]
    public void PyTorch_cnn_imports_with_the_accuracy_pytorch_measured()
    {
        using var recorded = JsonDocument.Parse(File.ReadAllText(Fixture("torch_cnn.json")));
        int correct = recorded.RootElement.GetProperty("test_correct").GetInt32();
        using var folder = new TempFolder();
        string pool = folder.Sub("pool");
        var data = TeacherTestData.Slice;
        var result = OnnxTeacherImport.Import(pool, "torch-cnn", data,
            new OnnxImportOptions(Fixture("torch_cnn.onnx"), new OnnxBindings(), Scale: "0-1", Threads: 2));

        Assert.Equal((double)correct / data.Test.Count, result.Entry.TestAccuracy);
        Assert.Equal(32, result.Entry.EmbeddingWidth);
        Assert.Equal("image", result.Entry.Onnx!.Input);
        Assert.Equal([0f], result.Entry.Onnx.Mean);
        Assert.Equal([1f], result.Entry.Onnx.Std);
        var manifest = PoolManifest.Read(pool);
        Assert.Equal(result.Entry.TestAccuracy, manifest.Teachers.Single().TestAccuracy);
    }

    [Fact]
    public void PyTorch_cnn_exported_with_logits_alone_and_channels_last_imports_the_same_teacher()
    {
        // The same trained network as torch_cnn.onnx, exported as most classifiers are: one output, input [N,28,28,1].
        using var folder = new TempFolder();
        var data = TeacherTestData.Slice;
        var options = (string file) => new OnnxImportOptions(Fixture(file), new OnnxBindings(), Scale: "0-1", Threads: 2);
        var both = OnnxTeacherImport.Import(folder.Sub("both"), "torch-cnn", data, options("torch_cnn.onnx"));
        var alone = OnnxTeacherImport.Import(folder.Sub("alone"), "torch-cnn", data, options("torch_cnn_logits_nhwc.onnx"));

        Assert.Equal(both.Entry.TestAccuracy, alone.Entry.TestAccuracy);
        Assert.Equal(32, alone.Entry.EmbeddingWidth);
        Assert.Equal("scores", alone.Entry.Onnx!.Logits);
        Assert.Contains("the input of the Gemm", alone.EmbeddingSource);
        foreach (var file in new[] { both.Entry.Outputs!.TrainLogits, both.Entry.Outputs.TrainEmbeddings, both.Entry.Outputs.TestEmbeddings! })
        {
            var want = NpyFile.Read(Path.Combine(folder.Sub("both"), file)).ToFiniteMatrix(file).Values;
            var got = NpyFile.Read(Path.Combine(folder.Sub("alone"), file)).ToFiniteMatrix(file).Values;
            Assert.True(OnnxTestModels.RelativeError(got, want) <= 1e-5, $"{file}: {OnnxTestModels.RelativeError(got, want):E2}");
        }
    }

    [Fact]
    public void PyTorch_segmenter_imports_with_the_miou_pytorch_measured()
    {
        // The scenes the fixture was trained and scored on, made again from the slice (the generator is deterministic).
        using var recorded = JsonDocument.Parse(File.ReadAllText(Fixture("torch_segmenter.json")));
        using var folder = new TempFolder();
        var data = MtkdRl.Data.Scenes.SceneDataset.Load(SliceScenes(folder, "--canvas", "40", "--train", "600", "--test", "200", "--seed", "1"));
        Assert.Equal(recorded.RootElement.GetProperty("scenes_source_fingerprint").GetString(), data.Descriptor.Source.Fingerprint);

        var result = OnnxSegmentationImport.Import(folder.Sub("pool"), "torch-segmenter", data,
            new OnnxImportOptions(Fixture("torch_segmenter.onnx"), new OnnxBindings(), Scale: "0-1", Threads: 2));
        // PyTorch's argmax and ONNX Runtime's may part on a pixel whose two best logits tie to float rounding.
        Assert.Equal(recorded.RootElement.GetProperty("test_miou").GetDouble(), result.Entry.TestAccuracy, 1e-4);
        Assert.Equal("maps", result.Entry.Onnx!.Logits);
        Assert.Equal(16, result.Entry.EmbeddingWidth);  // the channels of the map its 1x1 head reads
    }

    [Fact]
    public void PyTorch_detector_imports_with_the_ap_of_the_detections_pytorch_decoded()
    {
        // The scenes the fixture was trained on, made again from the slice; the script decoded its test detections as
        // docs/DETECTION.md says, in Python, and wrote them as a COCO results file beside the model.
        using var recorded = JsonDocument.Parse(File.ReadAllText(Fixture("torch_detector.json")));
        using var folder = new TempFolder();
        var scenes = DetectionScenes.Load(SliceScenes(folder, "--train", "600", "--test", "100", "--seed", "1"));
        Assert.Equal(recorded.RootElement.GetProperty("scenes_source_fingerprint").GetString(), scenes.Descriptor.Source.Fingerprint);
        var truth = scenes.Test.Instances;
        var theirs = MtkdRl.Reports.Metrics.CocoBoxEvaluation.Summarise(truth, CocoFiles.ReadDetections(Fixture("torch_detector_test.json"), truth));

        var result = OnnxDetectionImport.Import(folder.Sub("pool"), "torch-detector", scenes,
            new OnnxImportOptions(Fixture("torch_detector.onnx"), new OnnxBindings(), Scale: "0-1", Threads: 2));
        Assert.Equal(("cls", "box"), (result.Entry.Onnx!.Logits, result.Entry.Onnx.Boxes));
        Assert.Equal(32, result.Entry.EmbeddingWidth);  // the channels of the features its class head reads
        Assert.Equal("16x16 locations at stride 4; logits as planes, boxes as planes", result.Layout);
        using var teacher = OnnxDetectionTeacher.Open(folder.Sub("pool"), result.Entry, scenes, threads: 2);
        var ours = DetectorInference.Run(teacher, scenes, scenes.Test, [.. teacher.Normalization.Mean], [.. teacher.Normalization.Std]);
        // Scores may part in the last float digits between PyTorch and ONNX Runtime, reordering near-ties.
        Assert.Equal(recorded.RootElement.GetProperty("detections").GetInt32(), ours.Detections.Count);
        Assert.Equal(theirs.AP, result.Entry.TestAccuracy, 1e-4);
        foreach (var (name, a, b) in new[] { ("AP50", theirs.AP50, ours.Summary.AP50), ("AP75", theirs.AP75, ours.Summary.AP75), ("AR100", theirs.AR100, ours.Summary.AR100) })
            Assert.True(Math.Abs(a - b) <= 1e-4, $"{name}: PyTorch's detections {a}, the import's {b}");
        Assert.True(theirs.AP50 > 0.3, $"the fixture learnt to detect: AP50 {theirs.AP50}");
    }
}
