using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>Dropout in eval mode is the identity.</summary>
internal sealed class DropoutEmitter : LayerEmitter<Dropout>
{
    protected override OnnxValue Emit(OnnxGraphBuilder graph, Dropout layer, OnnxValue input) =>
        graph.Node("Identity", layer.Name, input.Rank, [input.Name]);
}
