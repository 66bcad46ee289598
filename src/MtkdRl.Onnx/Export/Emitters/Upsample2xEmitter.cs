using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>
/// Upsample2x: Resize by scales [1, 1, 2, 2], mode linear, coordinate_transformation_mode half_pixel. That is the
/// layer's convention: source coordinate (o + 0.5) / 2 - 0.5, clamped to [0, n - 1], two taps per axis.
/// </summary>
internal sealed class Upsample2xEmitter : LayerEmitter<Upsample2x>
{
    protected override OnnxValue Emit(OnnxGraphBuilder graph, Upsample2x layer, OnnxValue input)
    {
        NeedImage(layer, input);
        string scales = graph.Initializer($"{layer.Name}.scales", [1f, 1f, 2f, 2f], 4);
        return graph.Node("Resize", layer.Name, 4, [input.Name, "", scales],
            OnnxGraphBuilder.Text("mode", "linear"), OnnxGraphBuilder.Text("coordinate_transformation_mode", "half_pixel"));
    }
}
