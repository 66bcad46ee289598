using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>
/// BatchNorm in eval mode: BatchNormalization with the running statistics (inference form), per channel of an image
/// or per feature of rows.
/// </summary>
internal sealed class BatchNormEmitter : LayerEmitter<BatchNorm>
{
    protected override OnnxValue Emit(OnnxGraphBuilder graph, BatchNorm layer, OnnxValue input)
    {
        long c = layer.InputShape.Channels;
        string[] inputs =
        [
            input.Name,
            graph.Initializer(layer.Weight.Name, layer.Weight.Value, c),
            graph.Initializer(layer.Bias.Name, layer.Bias.Value, c),
            graph.Initializer(layer.RunningMean.Name, layer.RunningMean.Value, c),
            graph.Initializer(layer.RunningVar.Name, layer.RunningVar.Value, c),
        ];
        return graph.Node("BatchNormalization", layer.Name, input.Rank, inputs,
            OnnxGraphBuilder.Float("epsilon", (float)layer.Epsilon), OnnxGraphBuilder.Float("momentum", 1f - (float)layer.Momentum));
    }
}
