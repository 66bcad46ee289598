using Google.Protobuf;
using MtkdRl.Core;
using MtkdRl.Data.Batching;
using MtkdRl.Onnx;
using MtkdRl.Tests.Teachers;
using MtkdRl.Tests.Training;
using MtkdRl.Training;
using Onnx;

namespace MtkdRl.Tests.Onnx;

/// <summary>Exported models run in ONNX Runtime on the slice's test split agree with mtkd's own forward pass.</summary>
public sealed class OnnxExportTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mtkd-onnx-export-" + Guid.NewGuid().ToString("N"));

    public OnnxExportTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly SampleShape Image = new(1, 28, 28);

    [Theory]
    [InlineData("linear")]
    [InlineData("mlp:32x16,bn,drop0.2")]
    [InlineData("mlp:24")]
    [InlineData("cnn:4x8,fc16")]
    [InlineData("cnn:4x8,c2,fc16")]
    [InlineData("cnn:4x8,fc16,nobn")]
    [InlineData("cnn:4x8,gap,fc16")]
    [InlineData("cnn:4x8,fc0,drop0.3")]
    [InlineData("cnn:3x4x4x4x4,gap,fc0")]
    public void Exported_model_agrees_with_mtkd_on_the_test_split(string spec)
    {
        var data = TeacherTestData.Slice;
        var model = OnnxTestModels.Random(spec, Image, data.ClassCount, seed: spec.Length);
        var normalization = ChannelNormalization.FromTrainingSplit(data.Train);
        string path = Path.Combine(_dir, "model.onnx");
        OnnxExporter.Write(path, model, normalization);

        var want = OnnxTestModels.Mtkd(model, data.Test, normalization);
        var got = OnnxTestModels.Runtime(path, model, data.Test, normalization);
        Assert.True(OnnxTestModels.RelativeError(got.Logits, want.Logits) <= 1e-4, $"{spec}: logits {OnnxTestModels.RelativeError(got.Logits, want.Logits):E2}");
        Assert.True(OnnxTestModels.RelativeError(got.Embeddings, want.Embeddings) <= 1e-4, $"{spec}: embeddings {OnnxTestModels.RelativeError(got.Embeddings, want.Embeddings):E2}");
    }

    [Fact]
    public void Pools_with_padding_and_strides_agree_through_their_emitters()
    {
        // Layers no spec builds yet: average pooling with padding counted as zeros, max pooling with padding, strided convolution.
        var compute = TrainingTestCompute.Shared;
        var shape = new SampleShape(2, 9, 9);
        var conv = new Conv2d("conv", shape, 3, 3, compute, stride: 2, padding: 1);
        var avg = new AvgPool2d("avg", conv.OutputShape, 3, compute, stride: 2, padding: 1);
        var max = new MaxPool2d("max", avg.OutputShape, 2, compute, stride: 1, padding: 1);
        var flatten = new Flatten("flatten", max.OutputShape);
        var head = new Linear("head", flatten.OutputShape, 4, compute);
        var model = new Model(ModelSpec.Parse("linear"), shape, 4, [conv, avg, max, flatten], [head]);
        OnnxTestModels.Randomize(model, 11);
        var random = new Random(5);
        var pixels = new byte[40 * shape.Size];
        random.NextBytes(pixels);
        var split = new MtkdRl.Data.Datasets.LabeledImages("random", 2, 9, 9, pixels, Enumerable.Range(0, 40).Select(i => i % 4).ToArray(), ["a", "b", "c", "d"]);
        var normalization = ChannelNormalization.FromTrainingSplit(split);
        string path = Path.Combine(_dir, "pools.onnx");
        OnnxExporter.Write(path, model, normalization);

        var want = OnnxTestModels.Mtkd(model, split, normalization);
        var got = OnnxTestModels.Runtime(path, model, split, normalization, batch: 7);
        Assert.True(OnnxTestModels.RelativeError(got.Logits, want.Logits) <= 1e-4);
        Assert.True(OnnxTestModels.RelativeError(got.Embeddings, want.Embeddings) <= 1e-4);
    }

    [Theory]
    [InlineData(13)]
    [InlineData(21)]
    public void Every_supported_opset_loads_and_agrees(int opset)
    {
        var data = TeacherTestData.Tiny;
        var model = OnnxTestModels.Random("cnn:4,fc8", Image, data.ClassCount, seed: opset);
        var normalization = ChannelNormalization.FromTrainingSplit(data.Train);
        string path = Path.Combine(_dir, $"opset{opset}.onnx");
        OnnxExporter.Write(path, model, normalization, opset);
        Assert.Equal(opset, ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).OpsetImport.Single().Version);
        var want = OnnxTestModels.Mtkd(model, data.Test, normalization);
        var got = OnnxTestModels.Runtime(path, model, data.Test, normalization, batch: 1);
        Assert.True(OnnxTestModels.RelativeError(got.Logits, want.Logits) <= 1e-4);
    }

    [Fact]
    public void Graph_has_named_outputs_a_dynamic_batch_axis_and_the_normalisation()
    {
        var model = OnnxTestModels.Random("mlp:8,bn", Image, 10, seed: 1);
        var normalization = new ChannelNormalization([0.25f], [0.5f]);
        var proto = OnnxExporter.Build(model, normalization);
        Assert.Equal(["logits", "embedding"], proto.Graph.Output.Select(o => o.Name));
        Assert.Equal("input", proto.Graph.Input.Single().Name);
        var dims = proto.Graph.Input.Single().Type.TensorType.Shape.Dim;
        Assert.Equal("batch", dims[0].DimParam);
        Assert.Equal([1L, 28, 28], dims.Skip(1).Select(d => d.DimValue));
        Assert.Equal(8, proto.Graph.Output[1].Type.TensorType.Shape.Dim[1].DimValue);
        var meta = proto.MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal("0.25", meta[OnnxExporter.MeanKey]);
        Assert.Equal("0.5", meta[OnnxExporter.StdKey]);
        Assert.Equal("mlp:8,bn", meta[OnnxExporter.SpecKey]);
        Assert.Equal("classification", meta[OnnxExporter.TaskKey]);
        Assert.Contains(proto.Graph.Node, n => n.OpType == "BatchNormalization");
        Assert.Equal(proto.ToByteArray(), ModelProto.Parser.ParseFrom(proto.ToByteArray()).ToByteArray());
    }

    [Fact]
    public void A_model_exported_for_another_task_is_refused_as_a_classification_teacher()
    {
        var model = OnnxTestModels.Random("linear", Image, 10, seed: 1);
        var proto = OnnxExporter.Build(model, ChannelNormalization.Unit(1));
        proto.MetadataProps.Single(p => p.Key == OnnxExporter.TaskKey).Value = "segmentation";
        string path = Path.Combine(_dir, "segmenter.onnx");
        File.WriteAllBytes(path, proto.ToByteArray());
        var e = Assert.Throws<MtkdInputException>(() => OnnxTeacherModel.Open(path, new OnnxBindings(), Image, 10));
        Assert.Contains("made for segmentation, but this needs classification", e.Message);
    }

    [Fact]
    public void Opset_outside_the_supported_range_is_refused()
    {
        var model = OnnxTestModels.Random("linear", Image, 10, seed: 1);
        var e = Assert.Throws<MtkdInputException>(() => OnnxExporter.Build(model, ChannelNormalization.Unit(1), 9));
        Assert.Contains("--opset 9", e.Message);
    }
}
