using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MtkdRl.Core;
using MtkdRl.Data.Batching;
using MtkdRl.Onnx;
using MtkdRl.Tests.Training;
using MtkdRl.Training;

namespace MtkdRl.Tests.Onnx;

/// <summary>Exported segmentation models and detectors, run in ONNX Runtime on random inputs, agree with mtkd's eval-mode forward.</summary>
public sealed class DenseOnnxExportTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mtkd-onnx-dense-" + Guid.NewGuid().ToString("N"));

    public DenseOnnxExportTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    private const int Batch = 3;

    [Theory]
    [InlineData("unet:4x6x8", 2, 12, 16)]
    [InlineData("fcn:4x6", 1, 10, 14)]
    [InlineData("fcn:3x4x5", 3, 8, 12)]
    [InlineData("unet:4x6x8,c2", 1, 8, 8)]
    public void Segmentation_model_agrees_with_mtkd(string spec, int channels, int height, int width)
    {
        var shape = SampleShape.Image(channels, height, width);
        var model = ModelSpec.Parse(spec).BuildSegmentation(shape, 4, TrainingTestCompute.Shared, new Rng(3));
        OnnxTestModels.Randomize(model.NamedTensors, spec.Length);
        var x = RandomInput(shape, 17);
        model.Forward(x, Batch, training: false);
        string path = Path.Combine(_dir, "seg.onnx");
        OnnxExporter.Write(path, model, ChannelNormalization.Unit(channels));

        var outputs = Run(path, shape, x, out var metadata);
        Assert.Equal(TaskKind.Segmentation.Name(), metadata[OnnxExporter.TaskKey]);
        Assert.Equal(new[] { Batch, model.Classes, height, width }, outputs[OnnxExporter.LogitsName].Dims);
        Assert.Equal(new[] { Batch, model.EmbeddingWidth }, outputs[OnnxExporter.EmbeddingName].Dims);
        Agrees(spec, "logits", outputs[OnnxExporter.LogitsName].Values, model.Logits);
        Agrees(spec, "embedding", outputs[OnnxExporter.EmbeddingName].Values, model.Embedding);
    }

    [Theory]
    [InlineData("det:4x6x8", 1, 16, 16)]
    [InlineData("det:4x6x8,s2", 2, 12, 8)]
    [InlineData("det:4x6x6,nobn", 1, 16, 24)]
    [InlineData("det:4x6x8,c2", 1, 16, 16)]
    [InlineData("det:4x6x8,s2,u,h1", 1, 16, 12)]
    [InlineData("det:3x4x6x8,s2,u,c2,h2,nobn", 2, 16, 24)]
    public void Detector_agrees_with_mtkd_in_its_row_layout(string spec, int channels, int height, int width)
    {
        var shape = SampleShape.Image(channels, height, width);
        var model = ModelSpec.Parse(spec).BuildDetector(shape, 3, TrainingTestCompute.Shared, new Rng(3));
        OnnxTestModels.Randomize(model.NamedTensors, spec.Length);
        var x = RandomInput(shape, 23);
        model.Forward(x, Batch, training: false);
        string path = Path.Combine(_dir, "det.onnx");
        OnnxExporter.Write(path, model, ChannelNormalization.Unit(channels));

        var outputs = Run(path, shape, x, out var metadata);
        Assert.Equal(TaskKind.Detection.Name(), metadata[OnnxExporter.TaskKey]);
        Assert.Equal(new[] { Batch * model.Locations, model.ClassColumns }, outputs[OnnxExporter.LogitsName].Dims);
        Assert.Equal(new[] { Batch * model.Locations, BoxCoding.Outputs }, outputs[OnnxExporter.BoxesName].Dims);
        Agrees(spec, "logits", outputs[OnnxExporter.LogitsName].Values, model.ClassLogits);
        Agrees(spec, "boxes", outputs[OnnxExporter.BoxesName].Values, model.BoxOutputs);
        Agrees(spec, "embedding", outputs[OnnxExporter.EmbeddingName].Values, model.Embedding);
    }

    [Theory]
    [InlineData(3, 5)]
    [InlineData(1, 1)]
    public void Upsample2x_resize_matches_the_float64_bilinear_reference(int height, int width)
    {
        // The layer alone (through a one-stage fcn the head would hide it): every output checked against
        // half-pixel bilinear interpolation computed in float64 here, and the ONNX Resize against the layer.
        var shape = SampleShape.Image(2, height, width);
        var layer = new Upsample2x("up", shape, TrainingTestCompute.Shared);
        var x = RandomInput(shape, 29);
        var y = layer.Forward(x, Batch, training: false).AsSpan(0, Batch * layer.OutputShape.Size).ToArray();
        var reference = Bilinear(x, Batch * 2, height, width);
        Agrees("reference", "upsample", y, reference);

        var graph = new OnnxGraphBuilder(OnnxExporter.DefaultOpset);
        var output = LayerEmitters.For(layer).Emit(graph, layer, new OnnxValue(OnnxExporter.InputName, 4));
        graph.Node("Identity", OnnxExporter.LogitsName, 4, [output.Name]);
        graph.Graph.Input.Add(Info(OnnxExporter.InputName, Batch, 2, height, width));
        graph.Graph.Output.Add(Info(OnnxExporter.LogitsName, Batch, 2, 2 * height, 2 * width));
        var proto = new global::Onnx.ModelProto { IrVersion = 8, Graph = graph.Graph };
        proto.OpsetImport.Add(new global::Onnx.OperatorSetIdProto { Domain = "", Version = OnnxExporter.DefaultOpset });
        string path = Path.Combine(_dir, "up.onnx");
        OnnxExporter.Write(path, proto);
        var outputs = Run(path, shape, x, out _);
        Agrees("resize", "upsample", outputs[OnnxExporter.LogitsName].Values, y);
    }

    [Fact]
    public void Cli_exports_segmentation_and_detector_checkpoints_with_their_task_and_weights()
    {
        var shape = SampleShape.Image(1, 16, 16);
        var config = new MtkdRl.Teachers.CheckpointConfig
        {
            Name = "dense",
            Dataset = new MtkdRl.Teachers.DatasetIdentity("scenes", "0123456789abcdef"),
            Normalization = new MtkdRl.Teachers.NormalizationRecord([0.25f], [0.5f]),
        };
        var seg = ModelSpec.Parse("unet:4x6").BuildSegmentation(shape, 3, TrainingTestCompute.Shared, new Rng(2));
        OnnxTestModels.Randomize(seg.NamedTensors, 31);
        MtkdRl.Teachers.SegmentationCheckpoint.Save(Path.Combine(_dir, "seg"), seg, config);
        var det = ModelSpec.Parse("det:4x6").BuildDetector(shape, 3, TrainingTestCompute.Shared, new Rng(2));
        OnnxTestModels.Randomize(det.NamedTensors, 37);
        MtkdRl.Teachers.DetectorCheckpoint.Save(Path.Combine(_dir, "det"), det, config);
        var x = RandomInput(shape, 41);

        string segOnnx = Path.Combine(_dir, "seg.onnx");
        var export = MtkdRl.Tests.Cli.CliRun.Run("export", "--model", Path.Combine(_dir, "seg.json"), "--onnx", segOnnx);
        MtkdRl.Tests.Cli.CliRun.AssertOk(export);
        Assert.Contains("logits [N,3,16,16]", export.Out);
        var outputs = Run(segOnnx, shape, x, out var metadata);
        Assert.Equal(TaskKind.Segmentation.Name(), metadata[OnnxExporter.TaskKey]);
        Assert.Equal("0.25", metadata[OnnxExporter.MeanKey]);
        seg.Forward(x, Batch, training: false);
        Agrees("unet:4x6", "logits", outputs[OnnxExporter.LogitsName].Values, seg.Logits);

        string detOnnx = Path.Combine(_dir, "det.onnx");
        export = MtkdRl.Tests.Cli.CliRun.Run("export", "--model", Path.Combine(_dir, "det.json"), "--onnx", detOnnx);
        MtkdRl.Tests.Cli.CliRun.AssertOk(export);
        Assert.Contains($"boxes [N*{det.Locations},4]", export.Out);
        outputs = Run(detOnnx, shape, x, out metadata);
        Assert.Equal(TaskKind.Detection.Name(), metadata[OnnxExporter.TaskKey]);
        det.Forward(x, Batch, training: false);
        Agrees("det:4x6", "logits", outputs[OnnxExporter.LogitsName].Values, det.ClassLogits);
        Agrees("det:4x6", "boxes", outputs[OnnxExporter.BoxesName].Values, det.BoxOutputs);
    }

    /// <summary>Half-pixel bilinear 2x of <paramref name="planes"/> planes h x w, in float64.</summary>
    private static float[] Bilinear(float[] x, int planes, int h, int w)
    {
        var y = new float[planes * 4 * h * w];
        static (int, int, double) Tap(int o, int n)
        {
            double s = Math.Clamp((o + 0.5) / 2 - 0.5, 0, n - 1);
            int i0 = (int)Math.Floor(s);
            return (i0, Math.Min(i0 + 1, n - 1), s - i0);
        }
        for (int p = 0; p < planes; p++)
            for (int oy = 0; oy < 2 * h; oy++)
                for (int ox = 0; ox < 2 * w; ox++)
                {
                    var (y0, y1, fy) = Tap(oy, h);
                    var (x0, x1, fx) = Tap(ox, w);
                    double At(int r, int c) => x[(p * h + r) * w + c];
                    double v = (1 - fy) * ((1 - fx) * At(y0, x0) + fx * At(y0, x1)) + fy * ((1 - fx) * At(y1, x0) + fx * At(y1, x1));
                    y[(p * 2 * h + oy) * 2 * w + ox] = (float)v;
                }
        return y;
    }

    private static float[] RandomInput(SampleShape shape, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, Batch * shape.Size).Select(_ => (float)random.NextGaussian()).ToArray();
    }

    private static Dictionary<string, (int[] Dims, float[] Values)> Run(string path, SampleShape shape, float[] x, out IReadOnlyDictionary<string, string> metadata)
    {
        using var session = new InferenceSession(path);
        metadata = new Dictionary<string, string>(session.ModelMetadata.CustomMetadataMap);
        var input = new DenseTensor<float>(x, [Batch, shape.Channels, shape.Height, shape.Width]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(OnnxExporter.InputName, input)]);
        return results.ToDictionary(r => r.Name, r =>
        {
            var t = r.AsTensor<float>();
            return (t.Dimensions.ToArray(), t.ToArray());
        });
    }

    private static void Agrees(string spec, string what, ReadOnlySpan<float> got, ReadOnlySpan<float> want)
    {
        Assert.Equal(want.Length, got.Length);
        double error = OnnxTestModels.RelativeError(got, want);
        Assert.True(error <= 1e-4, $"{spec}: {what} {error:E2}");
    }

    private static global::Onnx.ValueInfoProto Info(string name, params long[] dims)
    {
        var shape = new global::Onnx.TensorShapeProto();
        foreach (long d in dims) shape.Dim.Add(new global::Onnx.TensorShapeProto.Types.Dimension { DimValue = d });
        return new global::Onnx.ValueInfoProto
        {
            Name = name,
            Type = new global::Onnx.TypeProto { TensorType = new global::Onnx.TypeProto.Types.Tensor { ElemType = (int)global::Onnx.TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }
}
