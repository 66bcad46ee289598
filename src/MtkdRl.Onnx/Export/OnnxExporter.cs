using System.Globalization;
using Google.Protobuf;
using MtkdRl.Core;
using MtkdRl.Data.Batching;
using MtkdRl.Training;
using Onnx;

namespace MtkdRl.Onnx;

/// <summary>
/// Writes a model of the grammar, in eval mode, as an ONNX graph: input <c>input</c> float32 [N, Ch, H, W] (rows
/// [N, D] for vector samples), normalised as mtkd feeds its models (the normalisation is kept in the metadata);
/// outputs <c>logits</c> [N, C] and <c>embedding</c> [N, D]; N is a dynamic axis. One emitter per layer kind
/// (<see cref="LayerEmitters"/>) writes the nodes.
/// </summary>
public static partial class OnnxExporter
{
    public const string InputName = "input";
    public const string LogitsName = "logits";
    public const string EmbeddingName = "embedding";
    public const string BatchAxis = "batch";
    public const int DefaultOpset = 17;
    public const int MinOpset = 13;
    public const int MaxOpset = 21;

    /// <summary>Metadata keys: the task, the spec and the input normalisation (per channel, comma-separated).</summary>
    public const string TaskKey = "mtkd.task", SpecKey = "mtkd.spec", MeanKey = "mtkd.normalization.mean", StdKey = "mtkd.normalization.std";

    public static ModelProto Build(Model model, ChannelNormalization normalization, int opset = DefaultOpset)
    {
        var graph = Start(model.Spec, model.InputShape, opset, out var input);
        var value = graph.Layers(model.Body, input);
        var embedding = graph.Node("Identity", EmbeddingName, 2, [graph.Rows(value, "embedding.flatten").Name]);
        value = graph.Layers(model.Head, embedding);
        graph.Node("Identity", LogitsName, 2, [value.Name]);
        graph.Graph.Output.Add(TensorInfo(LogitsName, BatchAxis, model.Classes));
        graph.Graph.Output.Add(TensorInfo(EmbeddingName, BatchAxis, model.EmbeddingWidth));
        return Package(graph, model.Spec, model.ParameterCount, TaskKind.Classification, normalization);
    }

    /// <summary>A new graph for <paramref name="spec"/> with its input declared; <paramref name="input"/> is that input.</summary>
    private static OnnxGraphBuilder Start(ModelSpec spec, SampleShape shape, int opset, out OnnxValue input)
    {
        if (opset is < MinOpset or > MaxOpset)
            throw new MtkdInputException($"--opset {opset}: supported opsets are {MinOpset} to {MaxOpset}");
        var graph = new OnnxGraphBuilder(opset);
        input = new OnnxValue(InputName, shape.IsVector ? 2 : 4);
        graph.Graph.Name = $"mtkd {spec}";
        graph.Graph.Input.Add(shape.IsVector
            ? TensorInfo(InputName, BatchAxis, shape.Channels)
            : TensorInfo(InputName, BatchAxis, shape.Channels, shape.Height, shape.Width));
        return graph;
    }

    /// <summary>The model around a finished graph: opset, producer and the metadata (task, spec, normalisation).</summary>
    private static ModelProto Package(OnnxGraphBuilder graph, ModelSpec spec, long parameters, TaskKind task, ChannelNormalization normalization)
    {
        var proto = new ModelProto
        {
            IrVersion = IrVersionFor(graph.Opset),
            ProducerName = "mtkd",
            ProducerVersion = typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "",
            DocString = $"mtkd model {spec}: {parameters} parameters, eval mode",
            Graph = graph.Graph,
        };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = graph.Opset });
        proto.MetadataProps.Add(new StringStringEntryProto { Key = TaskKey, Value = task.Name() });
        proto.MetadataProps.Add(new StringStringEntryProto { Key = SpecKey, Value = spec.ToString() });
        proto.MetadataProps.Add(new StringStringEntryProto { Key = MeanKey, Value = Join(normalization.Mean) });
        proto.MetadataProps.Add(new StringStringEntryProto { Key = StdKey, Value = Join(normalization.Std) });
        return proto;
    }

    /// <summary>Writes <paramref name="model"/> to <paramref name="path"/> atomically; returns the bytes written.</summary>
    public static long Write(string path, Model model, ChannelNormalization normalization, int opset = DefaultOpset) =>
        Write(path, Build(model, normalization, opset));

    /// <summary>Writes a built model to <paramref name="path"/> atomically; returns the bytes written.</summary>
    public static long Write(string path, ModelProto model)
    {
        byte[] bytes = model.ToByteArray();
        AtomicFile.WriteAllBytes(path, bytes);
        return bytes.Length;
    }

    /// <summary>The IR version of the ONNX release that introduced <paramref name="opset"/>.</summary>
    private static long IrVersionFor(int opset) => opset switch
    {
        <= 13 => 7,
        <= 17 => 8,
        <= 20 => 9,
        _ => 10,
    };

    private static string Join(IReadOnlyList<float> values) => string.Join(',', values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));

    /// <summary>A float32 tensor [first, dims...] whose first axis is the named dynamic axis <paramref name="first"/>.</summary>
    internal static ValueInfoProto TensorInfo(string name, string first, params long[] dims)
    {
        var tensorShape = new TensorShapeProto();
        tensorShape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = first });
        foreach (long d in dims) tensorShape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto
            {
                TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = tensorShape },
            },
        };
    }
}
