using MtkdRl.Training;

namespace MtkdRl.Onnx;

internal sealed class FlattenEmitter : LayerEmitter<Flatten>
{
    protected override OnnxValue Emit(OnnxGraphBuilder graph, Flatten layer, OnnxValue input) =>
        graph.Node("Flatten", layer.Name, 2, [input.Name], OnnxGraphBuilder.Int("axis", 1));
}
