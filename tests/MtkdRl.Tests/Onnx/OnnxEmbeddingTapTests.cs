using Google.Protobuf;
using MtkdRl.Core;
using MtkdRl.Data.Batching;
using MtkdRl.Onnx;
using MtkdRl.Data.Datasets;
using MtkdRl.Teachers;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Teachers;
using MtkdRl.Tests.Training;
using MtkdRl.Training;
using Onnx;
using static MtkdRl.Tests.Cli.CliRun;

namespace MtkdRl.Tests.Onnx;

/// <summary>
/// Models as frameworks export them: logits alone (the embedding read from the tensor the head's Gemm or MatMul
/// takes, or from a tensor named with --embedding), and images channels-last.
/// </summary>
[Collection("console")]
public sealed class OnnxEmbeddingTapTests : IDisposable
{
    private static readonly SampleShape Image = new(1, 28, 28);
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>mtkd's export of a random mlp:8 (its head one Linear reading the embedding), edited by <paramref name="edit"/>.</summary>
    private (string Path, Model Model, ChannelNormalization Normalization) Exported(string name, Action<GraphProto> edit, string spec = "mlp:8")
    {
        var model = OnnxTestModels.Random(spec, Image, 10, seed: name.Length);
        var normalization = ChannelNormalization.FromTrainingSplit(TeacherTestData.Slice.Train);
        var proto = OnnxExporter.Build(model, normalization);
        edit(proto.Graph);
        string path = _folder.File(name + ".onnx");
        File.WriteAllBytes(path, proto.ToByteArray());
        return (path, model, normalization);
    }

    private static void DropOutput(GraphProto graph, string name) => graph.Output.Remove(graph.Output.Single(o => o.Name == name));

    private static (float[] Logits, float[] Embeddings, OnnxTeacherModel Model) RunOnnx(string path, OnnxBindings bindings, ChannelNormalization normalization)
    {
        var onnx = OnnxTeacherModel.Open(path, bindings, Image, 10, threads: 2);
        var (logits, embeddings) = OnnxTeacherImport.Run(onnx, TeacherTestData.Slice.Test, "test", normalization, 128);
        return (logits.Values, embeddings.Values, onnx);
    }

    [Fact]
    public void A_model_with_logits_alone_gives_the_input_of_its_last_gemm_as_the_embedding()
    {
        var (path, model, normalization) = Exported("logits-only", g => DropOutput(g, OnnxExporter.EmbeddingName));
        byte[] file = File.ReadAllBytes(path);
        var want = OnnxTestModels.Mtkd(model, TeacherTestData.Slice.Test, normalization);
        var (logits, embeddings, onnx) = RunOnnx(path, new OnnxBindings(), normalization);
        using (onnx)
        {
            Assert.Equal(model.EmbeddingWidth, onnx.EmbeddingWidth);
            Assert.Contains("the input of the Gemm", onnx.EmbeddingSource);
            Assert.True(OnnxTestModels.RelativeError(logits, want.Logits) <= 1e-4);
            Assert.True(OnnxTestModels.RelativeError(embeddings, want.Embeddings) <= 1e-4);

            // Opened again by the tensor's name, as a live teacher reopens the pool's copy: the same outputs.
            var again = RunOnnx(path, new OnnxBindings(onnx.InputName, onnx.LogitsName, onnx.EmbeddingName), normalization);
            using (again.Model)
                Assert.Equal(embeddings, again.Embeddings);
        }
        Assert.Equal(file, File.ReadAllBytes(path));  // the graph is edited in memory, not in the file
    }

    [Fact]
    public void A_head_written_as_matmul_and_add_gives_the_same_embedding()
    {
        var (path, model, normalization) = Exported("matmul", g =>
        {
            DropOutput(g, OnnxExporter.EmbeddingName);
            // The last Gemm(x, W[out,in], b, transB) as MatMul(x, W^T) then Add(b), as some exporters write a Linear.
            var gemm = g.Node.Last(n => n.OpType == "Gemm");
            var weight = g.Initializer.Single(t => t.Name == gemm.Input[1]);
            int outputs = (int)weight.Dims[0], inputs = (int)weight.Dims[1];
            var transposed = new TensorProto { Name = weight.Name + ".T", DataType = weight.DataType };
            transposed.Dims.AddRange([inputs, outputs]);
            for (int i = 0; i < inputs; i++)
                for (int o = 0; o < outputs; o++)
                    transposed.FloatData.Add(weight.FloatData[o * inputs + i]);
            g.Initializer.Add(transposed);
            var matmul = new NodeProto { OpType = "MatMul", Name = "head.matmul" };
            matmul.Input.AddRange([gemm.Input[0], transposed.Name]);
            matmul.Output.Add("head.matmul");
            var add = new NodeProto { OpType = "Add", Name = "head.add" };
            add.Input.AddRange(["head.matmul", gemm.Input[2]]);  // the MatMul's result first or second: both are found
            add.Output.Add(gemm.Output[0]);
            int at = g.Node.IndexOf(gemm);
            g.Node.RemoveAt(at);
            g.Node.Insert(at, add);
            g.Node.Insert(at, matmul);
        });
        var want = OnnxTestModels.Mtkd(model, TeacherTestData.Slice.Test, normalization);
        var (logits, embeddings, onnx) = RunOnnx(path, new OnnxBindings(), normalization);
        using (onnx)
        {
            Assert.Contains("MatMul", onnx.EmbeddingSource);
            Assert.True(OnnxTestModels.RelativeError(logits, want.Logits) <= 1e-4);
            Assert.True(OnnxTestModels.RelativeError(embeddings, want.Embeddings) <= 1e-4);
        }
    }

    [Fact]
    public void Embedding_may_name_a_tensor_inside_the_graph()
    {
        // The tensor "embedding" is still made by its Identity node; only the output is gone.
        var (path, model, normalization) = Exported("named", g => DropOutput(g, OnnxExporter.EmbeddingName));
        var (_, embeddings, onnx) = RunOnnx(path, new OnnxBindings(Embedding: "embedding"), normalization);
        using (onnx)
        {
            Assert.Contains("tensor 'embedding'", onnx.EmbeddingSource);
            var want = OnnxTestModels.Mtkd(model, TeacherTestData.Slice.Test, normalization);
            Assert.True(OnnxTestModels.RelativeError(embeddings, want.Embeddings) <= 1e-4);
        }
        var error = Assert.Throws<MtkdInputException>(() => OnnxTeacherModel.Open(path, new OnnxBindings(Embedding: "nope"), Image, 10));
        Assert.Contains("no output or tensor named 'nope'", error.Message);
    }

    [Fact]
    public void Logits_not_made_by_a_gemm_or_matmul_ask_for_the_embedding_by_name()
    {
        var (path, _, _) = Exported("negated", g =>
        {
            DropOutput(g, OnnxExporter.EmbeddingName);
            var neg = new NodeProto { OpType = "Neg", Name = "neg" };
            neg.Input.Add(OnnxExporter.LogitsName);
            neg.Output.Add("scores");
            g.Node.Add(neg);
            var info = g.Output.Single().Clone();
            info.Name = "scores";
            g.Output.Clear();
            g.Output.Add(info);
        });
        var error = Assert.Throws<MtkdInputException>(() => OnnxTeacherModel.Open(path, new OnnxBindings(), Image, 10));
        Assert.Contains("the logits 'scores' come from a Neg node", error.Message);
        Assert.Contains("--embedding", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void A_channels_last_input_gets_the_images_transposed()
    {
        var shape = new SampleShape(3, 6, 5);
        var model = OnnxTestModels.Random("cnn:4,fc8", shape, 4, seed: 9);
        var normalization = ChannelNormalization.Unit(3);
        string first = _folder.File("nchw.onnx"), last = _folder.File("nhwc.onnx");
        var proto = OnnxExporter.Build(model, normalization);
        File.WriteAllBytes(first, proto.ToByteArray());
        // The same graph behind an input [N, H, W, Ch] and a Transpose to [N, Ch, H, W].
        var graph = proto.Graph;
        var input = graph.Input.Single();
        var dims = input.Type.TensorType.Shape.Dim;
        var hwc = input.Clone();
        hwc.Name = "pixels";
        hwc.Type.TensorType.Shape.Dim.Clear();
        hwc.Type.TensorType.Shape.Dim.AddRange([dims[0], dims[2], dims[3], dims[1]]);
        var transpose = new NodeProto { OpType = "Transpose", Name = "to_nchw" };
        transpose.Input.Add("pixels");
        transpose.Output.Add(input.Name);
        transpose.Attribute.Add(OnnxGraphBuilder.Ints("perm", 0, 3, 1, 2));
        graph.Node.Insert(0, transpose);
        graph.Input.Clear();
        graph.Input.Add(hwc);
        File.WriteAllBytes(last, proto.ToByteArray());

        var random = new Random(3);
        int n = 7;
        var images = new float[n * shape.Size];
        for (int i = 0; i < images.Length; i++) images[i] = (float)random.NextGaussian();
        float[] Logits(string path, bool channelsLast)
        {
            using var onnx = OnnxTeacherModel.Open(path, new OnnxBindings(), shape, 4, threads: 1);
            Assert.Equal(channelsLast, onnx.ChannelsLast);
            var logits = new float[n * 4];
            onnx.Run(images, n, logits, new float[n * onnx.EmbeddingWidth]);
            return logits;
        }
        float[] want = Logits(first, false), got = Logits(last, true);
        Assert.True(OnnxTestModels.RelativeError(got, want) <= 1e-6, $"{OnnxTestModels.RelativeError(got, want):E2}");
    }

    [Fact]
    public void A_fixed_batch_axis_runs_any_number_of_rows_in_batches_of_its_size()
    {
        // torch.onnx.export without dynamic_axes: every batch axis fixed, here at 2.
        var (dynamic, _, normalization) = Exported("dynamic", _ => { });
        var (fixedTwo, _, _) = Exported("fixed2x", g =>
        {
            foreach (var value in g.Input.Concat(g.Output))
                value.Type.TensorType.Shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimValue = 2 };
        });
        var want = RunOnnx(dynamic, new OnnxBindings(), normalization);
        var got = RunOnnx(fixedTwo, new OnnxBindings(), normalization);
        using (want.Model)
        using (got.Model)
        {
            Assert.Equal((0, 2), (want.Model.FixedBatch, got.Model.FixedBatch));
            var random = new Random(4);
            int n = 5;
            var images = new float[n * Image.Size];
            for (int i = 0; i < images.Length; i++) images[i] = (float)random.NextGaussian();
            float[] Logits(OnnxTeacherModel model)
            {
                var logits = new float[n * 10];
                model.Run(images, n, logits, new float[n * model.EmbeddingWidth]);
                return logits;
            }
            Assert.True(OnnxTestModels.RelativeError(Logits(got.Model), Logits(want.Model)) <= 1e-6);
        }
    }

    [Fact]
    public void The_cli_says_where_the_embedding_came_from()
    {
        var (path, _, _) = Exported("cli", g => DropOutput(g, OnnxExporter.EmbeddingName));
        string data = TeacherTestData.WriteIdx(TeacherTestData.Tiny, _folder.Root);
        string pool = Path.Combine(_folder.Root, "pool");
        TeacherPool.Train(pool, DatasetLocator.Load(data), [new("mlp", new TrainingRecipe { Spec = "mlp:4", Epochs = 1, BatchSize = 50, Seed = 1 })],
            TrainingTestCompute.Shared);
        var import = Run("teachers", "import", "--pool", pool, "--name", "ext", "--onnx", path, "--data", data, "--threads", "1");
        AssertOk(import);
        Assert.Contains("embedding: tensor 'embedding', the input of the Gemm", import.Out);
        Assert.Contains("D = 8", import.Out);
    }
}
