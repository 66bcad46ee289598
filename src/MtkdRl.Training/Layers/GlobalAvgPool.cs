using System.Numerics.Tensors;

namespace MtkdRl.Training;

/// <summary>[B, C, H, W] -> [B, C]: the mean of each channel's plane; backward spreads dy / (H*W) over the plane.</summary>
public sealed class GlobalAvgPool : Layer
{
    private readonly CpuCompute _compute;
    private readonly BatchBuffer<float> _output, _gradInput;

    public GlobalAvgPool(string name, SampleShape input, CpuCompute compute)
        : base(name, input, SampleShape.Vector(input.Channels))
    {
        _compute = compute;
        _output = new BatchBuffer<float>(input.Channels);
        _gradInput = new BatchBuffer<float>(input.Size);
    }

    protected override float[] ForwardCore(float[] input, int batch, bool training)
    {
        var y = _output.Rows(batch);
        int plane = InputShape.Plane;
        float scale = 1f / plane;
        _compute.For(batch * InputShape.Channels, plane, (p0, p1) =>
        {
            for (int p = p0; p < p1; p++) y[p] = TensorPrimitives.Sum(input.AsSpan(p * plane, plane)) * scale;
        });
        return y;
    }

    protected override float[]? BackwardCore(float[] gradOutput, bool inputGradient)
    {
        if (!inputGradient) return null;
        var dx = _gradInput.Rows(Batch);
        int plane = InputShape.Plane;
        float scale = 1f / plane;
        _compute.For(Batch * InputShape.Channels, plane, (p0, p1) =>
        {
            for (int p = p0; p < p1; p++) dx.AsSpan(p * plane, plane).Fill(gradOutput[p] * scale);
        });
        return dx;
    }
}
