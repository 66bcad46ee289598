using MtkdRl.Core;
using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>The emitter of every layer kind the grammar builds.</summary>
public static class LayerEmitters
{
    private static readonly Dictionary<Type, ILayerEmitter> ByType = new ILayerEmitter[]
    {
        new LinearEmitter(), new Conv2dEmitter(), new BatchNormEmitter(), new ReluEmitter(), new MaxPool2dEmitter(),
        new AvgPool2dEmitter(), new GlobalAvgPoolEmitter(), new FlattenEmitter(), new DropoutEmitter(),
        new Upsample2xEmitter(),
    }.ToDictionary(e => e.LayerType);

    /// <summary>Layer types that have an emitter.</summary>
    public static IReadOnlyCollection<Type> Supported => ByType.Keys;

    public static ILayerEmitter For(Layer layer) =>
        ByType.TryGetValue(layer.GetType(), out var emitter)
            ? emitter
            : throw new MtkdInputException($"layer '{layer.Name}': no ONNX emitter for {layer.GetType().Name} (known: {string.Join(", ", ByType.Keys.Select(t => t.Name))})");
}
