using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>MaxPool2d: MaxPool, floor rounding of the output size (ceil_mode 0); ONNX pads never win a max either.</summary>
internal sealed class MaxPool2dEmitter : LayerEmitter<MaxPool2d>
{
    protected override OnnxValue Emit(OnnxGraphBuilder graph, MaxPool2d layer, OnnxValue input)
    {
        NeedImage(layer, input);
        return graph.Node("MaxPool", layer.Name, 4, [input.Name], PoolAttributes.Of(layer.Kernel, layer.Stride, layer.Padding));
    }
}
