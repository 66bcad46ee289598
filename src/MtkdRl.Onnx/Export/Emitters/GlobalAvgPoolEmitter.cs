using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>GlobalAvgPool: GlobalAveragePool [N,C,1,1], then Flatten to rows [N,C] as the layer's output is.</summary>
internal sealed class GlobalAvgPoolEmitter : LayerEmitter<GlobalAvgPool>
{
    protected override OnnxValue Emit(OnnxGraphBuilder graph, GlobalAvgPool layer, OnnxValue input)
    {
        NeedImage(layer, input);
        var pooled = graph.Node("GlobalAveragePool", $"{layer.Name}.pool", 4, [input.Name]);
        return graph.Node("Flatten", layer.Name, 2, [pooled.Name], OnnxGraphBuilder.Int("axis", 1));
    }
}
