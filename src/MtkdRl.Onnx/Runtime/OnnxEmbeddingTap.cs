using Google.Protobuf;
using MtkdRl.Core;
using Onnx;

namespace MtkdRl.Onnx;

/// <summary>
/// The embedding of a model that exports only its logits, read from inside the graph. Most classifiers leave a
/// framework as logits alone; their embedding is the tensor the classifier head reads, the first input of the
/// <c>Gemm</c> (or <c>MatMul</c>, alone or followed by the bias <c>Add</c>) that makes the logits. The model is given
/// one more output, an <c>Identity</c> of that tensor, and runs from the edited bytes; the file stays as it is.
/// <c>--embedding</c> may also name any tensor of the graph that is not an output. For a segmentation teacher (logit
/// maps) the embedding is the channel means of a map inside the graph, <c>GlobalAveragePool</c> then <c>Flatten</c>,
/// [N, channels]: of the map named, or of the one the convolution that makes the logits reads (through
/// <c>Resize</c> or <c>Upsample</c> to the canvas; for a detector, through the <c>Transpose</c> and <c>Flatten</c> or
/// <c>Reshape</c> that make location rows).
/// </summary>
public static class OnnxEmbeddingTap
{
    /// <summary>The name of the output added to the graph.</summary>
    public const string OutputName = "mtkd.embedding";

    /// <summary>The edited model, the tapped tensor's name in the graph, and how it was chosen (for the console).</summary>
    public sealed record Tap(byte[] Model, string Tensor, string Description);

    /// <summary>ONNX files past this size are not parsed (protobuf's own limit is 2 GiB).</summary>
    private const long MaxModelBytes = int.MaxValue;

    /// <summary>
    /// The model at <paramref name="path"/> with an output <see cref="OutputName"/> holding <paramref name="tensor"/>,
    /// or (null) the input of the node that makes <paramref name="logits"/>.
    /// </summary>
    public static Tap Add(string path, string logits, string? tensor, bool logitMaps = false)
    {
        long size = new FileInfo(path).Length;
        if (size > MaxModelBytes)
            throw new MtkdInputException($"{path}: {size} bytes, too large to look inside for the embedding; export it as an output and name it with --embedding");
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new MtkdInputException($"{path}: not an ONNX model that can be read to find the embedding ({e.Message})");
        }
        var graph = model.Graph ?? throw new MtkdInputException($"{path}: the model has no graph");
        string outputs = string.Join(", ", graph.Output.Select(o => o.Name));
        string chosen, description;
        if (tensor is not null)
        {
            if (!graph.Node.Any(n => n.Output.Contains(tensor)) && !graph.Input.Any(i => i.Name == tensor))
                throw new MtkdInputException($"{path}: no output or tensor named '{tensor}' (--embedding; the model's outputs: {outputs})");
            chosen = tensor;
            bool output = graph.Output.Any(o => o.Name == tensor);
            string what = output ? $"output '{tensor}'" : $"tensor '{tensor}' of the graph (--embedding)";
            description = logitMaps ? $"the channel means of {what}" : what;
        }
        else
        {
            (chosen, description) = logitMaps ? MapHeadInput(path, graph, logits, outputs) : HeadInput(path, graph, logits, outputs);
        }
        if (graph.Output.Any(o => o.Name == OutputName) || graph.Node.Any(n => n.Output.Contains(OutputName)))
            throw new MtkdInputException($"{path}: the graph already holds a tensor named '{OutputName}'; export the embedding as an output and name it with --embedding");
        if (logitMaps)
        {
            // [N, Cf, h, w] to its channel means [N, Cf]; both operators have kept their form since opset 1.
            var pool = new NodeProto { OpType = "GlobalAveragePool", Name = OutputName + ".pool" };
            pool.Input.Add(chosen);
            pool.Output.Add(pool.Name);
            var flatten = new NodeProto { OpType = "Flatten", Name = OutputName };
            flatten.Input.Add(pool.Name);
            flatten.Output.Add(OutputName);
            flatten.Attribute.Add(OnnxGraphBuilder.Int("axis", 1));
            graph.Node.Add(pool);
            graph.Node.Add(flatten);
        }
        else
        {
            var identity = new NodeProto { OpType = "Identity", Name = OutputName };
            identity.Input.Add(chosen);
            identity.Output.Add(OutputName);
            graph.Node.Add(identity);
        }
        graph.Output.Add(new ValueInfoProto
        {
            Name = OutputName,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
        });
        return new Tap(model.ToByteArray(), chosen, description);
    }

    /// <summary>The map the last Conv reads, through Identity, Resize and Upsample nodes (a segmentation head) or Transpose, Flatten and Reshape (a detector's location rows).</summary>
    private static (string Tensor, string Description) MapHeadInput(string path, GraphProto graph, string logits, string outputs)
    {
        // A detector's class logits may leave as location rows: Transpose and Flatten or Reshape after the head.
        var node = Follow(Producers(graph), logits, "Identity", "Resize", "Upsample", "Transpose", "Flatten", "Reshape");
        if (node is { OpType: "Conv" })
        {
            string x = node.Input[0];
            return (x, $"the channel means of tensor '{x}', the input of the {Describe(node)} that makes the logit maps (--embedding names another tensor)");
        }
        throw CannotTell(path, outputs, $"the logit maps '{logits}'", node, "a Conv");
    }

    /// <summary>The first input of the classifier head: Gemm(x, W[, b]), MatMul(x, W), or Add(MatMul(x, W), b), through Identity nodes.</summary>
    private static (string Tensor, string Description) HeadInput(string path, GraphProto graph, string logits, string outputs)
    {
        var producers = Producers(graph);
        var node = Follow(producers, logits, "Identity");
        if (node is { OpType: "Add", Input.Count: 2 })
        {
            // The bias Add after a MatMul: the operand that a MatMul makes (the other one is the bias).
            var matmul = node.Input.Select(producers.GetValueOrDefault).FirstOrDefault(n => n is { OpType: "MatMul" });
            if (matmul is not null) node = matmul;
        }
        if (node is { OpType: "Gemm" or "MatMul" } && node.Input.Count >= 2)
        {
            // The data operand: the first, unless that one is a weight and the second is not.
            var initializers = graph.Initializer.Select(t => t.Name).ToHashSet();
            string x = node.Input[0];
            if (initializers.Contains(x) && !initializers.Contains(node.Input[1])) x = node.Input[1];
            return (x, $"tensor '{x}', the input of the {Describe(node)} that makes the logits (--embedding names another tensor)");
        }
        throw CannotTell(path, outputs, $"the logits '{logits}'", node, "a Gemm or MatMul");
    }

    /// <summary>The node that makes <paramref name="tensor"/>, followed back through nodes of the <paramref name="passThrough"/> kinds (their first input).</summary>
    private static NodeProto? Follow(Dictionary<string, NodeProto> producers, string tensor, params string[] passThrough)
    {
        var node = producers.GetValueOrDefault(tensor);
        for (int hops = 0; node is not null && passThrough.Contains(node.OpType) && hops < producers.Count; hops++)
            node = producers.GetValueOrDefault(node.Input[0]);
        return node;
    }

    private static Dictionary<string, NodeProto> Producers(GraphProto graph)
    {
        var producers = new Dictionary<string, NodeProto>();
        foreach (var n in graph.Node)
            foreach (string output in n.Output)
                producers.TryAdd(output, n);
        return producers;
    }

    private static string Describe(NodeProto node) => string.IsNullOrEmpty(node.Name) ? node.OpType : $"{node.OpType} '{node.Name}'";

    private static MtkdInputException CannotTell(string path, string outputs, string logits, NodeProto? node, string expected)
    {
        string made = node is null ? "is not made by any node" : $"come from a {node.OpType} node";
        return new MtkdInputException(
            $"{path}: cannot tell which tensor is the embedding: the model's outputs are {outputs}, and {logits} {made}, not {expected}; name a tensor [N,D] with --embedding");
    }
}
