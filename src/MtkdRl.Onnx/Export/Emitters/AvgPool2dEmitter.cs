using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>AvgPool2d: AveragePool counting padding as zeros (count_include_pad 1, the divisor is always k*k).</summary>
internal sealed class AvgPool2dEmitter : LayerEmitter<AvgPool2d>
{
    protected override OnnxValue Emit(OnnxGraphBuilder graph, AvgPool2d layer, OnnxValue input)
    {
        NeedImage(layer, input);
        return graph.Node("AveragePool", layer.Name, 4, [input.Name],
            [.. PoolAttributes.Of(layer.Kernel, layer.Stride, layer.Padding), OnnxGraphBuilder.Int("count_include_pad", 1)]);
    }
}
