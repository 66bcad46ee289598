using MtkdRl.Training;

namespace MtkdRl.Onnx;

internal sealed class ReluEmitter : LayerEmitter<ReLU>
{
    protected override OnnxValue Emit(OnnxGraphBuilder graph, ReLU layer, OnnxValue input) =>
        graph.Node("Relu", layer.Name, input.Rank, [input.Name]);
}
