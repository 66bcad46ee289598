using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>ChannelConcat (two inputs, so not a layer emitter): Concat along axis 1, the first input's channels first.</summary>
internal static class ChannelConcatEmitter
{
    public static OnnxValue Emit(OnnxGraphBuilder graph, ChannelConcat concat, OnnxValue a, OnnxValue b) =>
        graph.Node("Concat", concat.Name, 4, [a.Name, b.Name], OnnxGraphBuilder.Int("axis", 1));
}
