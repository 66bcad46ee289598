namespace MtkdRl.Training;

/// <summary>[B, Ch, H, W] seen as [B, Ch*H*W]: the storage is already that, so nothing moves.</summary>
public sealed class Flatten(string name, SampleShape input) : Layer(name, input, SampleShape.Vector(input.Size))
{
    protected override float[] ForwardCore(float[] input, int batch, bool training) => input;

    protected override float[]? BackwardCore(float[] gradOutput, bool inputGradient) => inputGradient ? gradOutput : null;
}
