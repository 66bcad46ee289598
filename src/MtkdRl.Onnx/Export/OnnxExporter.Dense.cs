using MtkdRl.Core;
using MtkdRl.Data.Batching;
using MtkdRl.Training;
using Onnx;

namespace MtkdRl.Onnx;

/// <summary>
/// The segmentation and detection graphs. Segmentation (unet:, fcn:): outputs <c>logits</c> [N, C+1, H, W], the
/// model's channel-major per-pixel layout, and <c>embedding</c> [N, D]. Detection (det:): outputs <c>logits</c>
/// [N*L, C+1] and <c>boxes</c> [N*L, 4], row n * L + y * Wg + x for image n, location (x, y) (docs/DETECTION.md's
/// row layout; the first axis is the dynamic <c>locations</c> = N * L), and <c>embedding</c> [N, D].
/// </summary>
public static partial class OnnxExporter
{
    public const string BoxesName = "boxes";
    public const string LocationAxis = "locations";

    public static ModelProto Build(SegmentationModel model, ChannelNormalization normalization, int opset = DefaultOpset)
    {
        var graph = Start(model.Spec, model.InputShape, opset, out var value);
        var skips = Encoder(graph, model.Body, value);
        var pool = model.Layers[^1];
        var embedding = LayerEmitters.For(pool).Emit(graph, pool, skips[^1]);
        value = graph.Layers(model.Head, Decoder(graph, model.Body, skips));
        graph.Node("Identity", LogitsName, 4, [value.Name]);
        graph.Node("Identity", EmbeddingName, 2, [embedding.Name]);
        var shape = model.InputShape;
        graph.Graph.Output.Add(TensorInfo(LogitsName, BatchAxis, model.Classes, shape.Height, shape.Width));
        graph.Graph.Output.Add(TensorInfo(EmbeddingName, BatchAxis, model.EmbeddingWidth));
        return Package(graph, model.Spec, model.ParameterCount, TaskKind.Segmentation, normalization);
    }

    public static ModelProto Build(Detector model, ChannelNormalization normalization, int opset = DefaultOpset)
    {
        var graph = Start(model.Spec, model.InputShape, opset, out var input);
        var features = Decoder(graph, model.Body, Encoder(graph, model.Body, input));
        var tower = graph.Layers(model.ClassTower, features);
        LocationRows(graph, LogitsName, LayerEmitters.For(model.ClassHead).Emit(graph, model.ClassHead, tower));
        LocationRows(graph, BoxesName, LayerEmitters.For(model.BoxHead).Emit(graph, model.BoxHead, features));
        var pool = model.Layers[^1];
        graph.Node("Identity", EmbeddingName, 2, [LayerEmitters.For(pool).Emit(graph, pool, features).Name]);
        graph.Graph.Output.Add(TensorInfo(LogitsName, LocationAxis, model.ClassColumns));
        graph.Graph.Output.Add(TensorInfo(BoxesName, LocationAxis, BoxCoding.Outputs));
        graph.Graph.Output.Add(TensorInfo(EmbeddingName, BatchAxis, model.EmbeddingWidth));
        return Package(graph, model.Spec, model.ParameterCount, TaskKind.Detection, normalization);
    }

    /// <summary>An encoder-decoder body's encoder stages; returns each stage's output (its skip; the last is the bottleneck).</summary>
    private static OnnxValue[] Encoder(OnnxGraphBuilder graph, EncoderDecoder body, OnnxValue value)
    {
        var skips = new OnnxValue[body.Encoder.Count];
        for (int i = 0; i < skips.Length; i++) skips[i] = value = graph.Layers(body.Encoder[i], value);
        return skips;
    }

    /// <summary>The body's decoder steps (Resize, Concat with the skip, block) from the bottleneck; returns the body's output.</summary>
    private static OnnxValue Decoder(OnnxGraphBuilder graph, EncoderDecoder body, OnnxValue[] skips)
    {
        var value = skips[^1];
        foreach (var d in body.Decoder)
        {
            value = LayerEmitters.For(d.Up).Emit(graph, d.Up, value);
            value = ChannelConcatEmitter.Emit(graph, d.Concat, value, skips[d.Skip]);
            value = graph.Layers(d.Block, value);
        }
        return value;
    }

    /// <summary>A head's planes [N, K, Hg, Wg] as rows [N * Hg * Wg, K] named <paramref name="name"/>: Transpose to [N, Hg, Wg, K], Flatten at axis 3.</summary>
    private static void LocationRows(OnnxGraphBuilder graph, string name, OnnxValue planes)
    {
        var last = graph.Node("Transpose", $"{name}.nhwc", 4, [planes.Name], OnnxGraphBuilder.Ints("perm", 0, 2, 3, 1));
        graph.Node("Flatten", name, 2, [last.Name], OnnxGraphBuilder.Int("axis", 3));
    }

    public static long Write(string path, SegmentationModel model, ChannelNormalization normalization, int opset = DefaultOpset) =>
        Write(path, Build(model, normalization, opset));

    public static long Write(string path, Detector model, ChannelNormalization normalization, int opset = DefaultOpset) =>
        Write(path, Build(model, normalization, opset));
}
