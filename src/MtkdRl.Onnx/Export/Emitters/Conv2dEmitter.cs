using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>Conv2d: Conv with square kernel, stride and zero padding on every side; weights [out, in, k, k].</summary>
internal sealed class Conv2dEmitter : LayerEmitter<Conv2d>
{
    protected override OnnxValue Emit(OnnxGraphBuilder graph, Conv2d layer, OnnxValue input)
    {
        NeedImage(layer, input);
        int k = layer.Kernel, p = layer.Padding, s = layer.Stride;
        var inputs = new List<string>
        {
            input.Name,
            graph.Initializer(layer.Weight.Name, layer.Weight.Value, layer.OutChannels, layer.InputShape.Channels, k, k),
        };
        if (layer.Bias is { } bias) inputs.Add(graph.Initializer(bias.Name, bias.Value, layer.OutChannels));
        return graph.Node("Conv", layer.Name, 4, inputs,
            OnnxGraphBuilder.Ints("kernel_shape", k, k), OnnxGraphBuilder.Ints("strides", s, s), OnnxGraphBuilder.Ints("pads", p, p, p, p));
    }
}
