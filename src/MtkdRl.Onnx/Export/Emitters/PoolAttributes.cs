using Onnx;

namespace MtkdRl.Onnx;

/// <summary>kernel_shape, strides and pads of a square pooling window.</summary>
internal static class PoolAttributes
{
    public static AttributeProto[] Of(int kernel, int stride, int padding) =>
    [
        OnnxGraphBuilder.Ints("kernel_shape", kernel, kernel),
        OnnxGraphBuilder.Ints("strides", stride, stride),
        OnnxGraphBuilder.Ints("pads", padding, padding, padding, padding),
    ];
}
