using Onnx;

namespace MtkdRl.Onnx;

/// <summary>
/// Adds nodes and float32 initializers to an ONNX graph through the generated protobuf classes, and keeps the
/// names of what it added unique.
/// </summary>
public sealed class OnnxGraphBuilder
{
    private readonly HashSet<string> _names = [];

    public OnnxGraphBuilder(int opset) => Opset = opset;

    /// <summary>The opset the graph is written for; an emitter picks attributes by it where an operator changed.</summary>
    public int Opset { get; }

    public GraphProto Graph { get; } = new();

    /// <summary>A float32 constant of shape <paramref name="dims"/>, named <paramref name="name"/> (a parameter's model name).</summary>
    public string Initializer(string name, ReadOnlySpan<float> values, params long[] dims)
    {
        long count = dims.Aggregate(1L, (a, d) => a * d);
        if (count != values.Length) throw new ArgumentException($"initializer '{name}': {values.Length} values for shape [{string.Join(",", dims)}]");
        var tensor = new TensorProto { Name = Claim(name), DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.AddRange(dims);
        tensor.FloatData.AddRange(values.ToArray());
        Graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    /// <summary>One node <paramref name="op"/> named <paramref name="name"/> whose single output (also <paramref name="name"/>) has rank <paramref name="rank"/>.</summary>
    public OnnxValue Node(string op, string name, int rank, IEnumerable<string> inputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = Claim(name) };
        node.Input.AddRange(inputs);
        node.Output.Add(node.Name);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return new OnnxValue(node.Name, rank);
    }

    /// <summary>An image tensor [N, C, H, W] as rows [N, C*H*W]; a row tensor is returned as it is.</summary>
    public OnnxValue Rows(OnnxValue value, string name) =>
        value.Rank == 2 ? value : Node("Flatten", name, 2, [value.Name], Int("axis", 1));

    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Text(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8(value) };

    /// <summary>Adds <paramref name="layers"/> in order, from <paramref name="input"/>; returns the last output.</summary>
    public OnnxValue Layers(IEnumerable<MtkdRl.Training.Layer> layers, OnnxValue input)
    {
        foreach (var layer in layers) input = LayerEmitters.For(layer).Emit(this, layer, input);
        return input;
    }

    public static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    private string Claim(string name)
    {
        string unique = name;
        for (int i = 2; !_names.Add(unique); i++) unique = $"{name}_{i}";
        return unique;
    }
}
