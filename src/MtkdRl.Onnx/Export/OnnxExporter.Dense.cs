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
        var pool = model.Layers[^1];
        OnnxValue? embedding = null;
        value = Body(graph, model.Body, value, bottleneck => embedding = LayerEmitters.For(pool).Emit(graph, pool, bottleneck));
        value = graph.Layers(model.Head, value);
        graph.Node("Identity", LogitsName, 4, [value.Name]);
        graph.Node("Identity", EmbeddingName, 2, [embedding!.Value.Name]);
        var shape = model.InputShape;
        graph.Graph.Output.Add(TensorInfo(LogitsName, BatchAxis, model.Classes, shape.Height, shape.Width));
        graph.Graph.Output.Add(TensorInfo(EmbeddingName, BatchAxis, model.EmbeddingWidth));
        return Package(graph, model.Spec, model.ParameterCount, TaskKind.Segmentation, normalization);
    }

    public static ModelProto Build(Detector model, ChannelNormalization normalization, int opset = DefaultOpset)
    {
        var graph = Start(model.Spec, model.InputShape, opset, out var input);
        var features = Body(graph, model.Body, input);
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

    /// <summary>
    /// An encoder-decoder body: the encoder stages, each output kept as its skip, <paramref name="atBottleneck"/> on the
    /// bottleneck (nodes that read it, emitted there), then each decoder step's Resize, Concat and block.
    /// </summary>
    private static OnnxValue Body(OnnxGraphBuilder graph, EncoderDecoder body, OnnxValue value, Action<OnnxValue>? atBottleneck = null)
    {
        var skips = new OnnxValue[body.Encoder.Count];
        for (int i = 0; i < skips.Length; i++) skips[i] = value = graph.Layers(body.Encoder[i], value);
        atBottleneck?.Invoke(value);
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
