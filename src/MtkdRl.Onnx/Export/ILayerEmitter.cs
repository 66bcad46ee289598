using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>Writes one kind of layer, in eval mode, as ONNX nodes: a new layer kind adds one emitter to <see cref="LayerEmitters"/>.</summary>
public interface ILayerEmitter
{
    Type LayerType { get; }

    /// <summary>Adds the nodes of <paramref name="layer"/> applied to <paramref name="input"/>; returns its output.</summary>
    OnnxValue Emit(OnnxGraphBuilder graph, Layer layer, OnnxValue input);
}

/// <summary>An emitter for layers of type <typeparamref name="T"/>.</summary>
public abstract class LayerEmitter<T> : ILayerEmitter where T : Layer
{
    public Type LayerType => typeof(T);

    public OnnxValue Emit(OnnxGraphBuilder graph, Layer layer, OnnxValue input) => Emit(graph, (T)layer, input);

    protected abstract OnnxValue Emit(OnnxGraphBuilder graph, T layer, OnnxValue input);

    /// <summary>Refuses a row tensor where the operator needs an image [N, C, H, W].</summary>
    protected static void NeedImage(T layer, OnnxValue input)
    {
        if (input.Rank != 4)
            throw new global::MtkdRl.Core.MtkdInputException($"layer '{layer.Name}' ({typeof(T).Name}): needs an image input [N,C,H,W], the graph has rows [N,D] here");
    }
}
