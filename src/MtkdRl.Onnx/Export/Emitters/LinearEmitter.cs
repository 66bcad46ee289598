using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>Linear: Gemm(x, W, b) with transB = 1 (W is [out, in], PyTorch's layout); an image input is flattened first.</summary>
internal sealed class LinearEmitter : LayerEmitter<Linear>
{
    protected override OnnxValue Emit(OnnxGraphBuilder graph, Linear layer, OnnxValue input)
    {
        var rows = graph.Rows(input, $"{layer.Name}.flatten");
        var inputs = new List<string>
        {
            rows.Name,
            graph.Initializer(layer.Weight.Name, layer.Weight.Value, layer.OutFeatures, layer.InFeatures),
        };
        if (layer.Bias is { } bias) inputs.Add(graph.Initializer(bias.Name, bias.Value, layer.OutFeatures));
        return graph.Node("Gemm", layer.Name, 2, inputs, OnnxGraphBuilder.Int("transB", 1));
    }
}
