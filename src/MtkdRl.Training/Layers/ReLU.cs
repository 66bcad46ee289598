using System.Numerics.Tensors;

namespace MtkdRl.Training;

/// <summary>y = max(x, 0); dx = dy where y &gt; 0 (the kink at 0 gets gradient 0).</summary>
public sealed class ReLU : Layer
{
    private readonly CpuCompute _compute;
    private readonly BatchBuffer<float> _output, _gradInput;

    public ReLU(string name, SampleShape shape, CpuCompute compute) : base(name, shape, shape)
    {
        _compute = compute;
        _output = new BatchBuffer<float>(shape.Size);
        _gradInput = new BatchBuffer<float>(shape.Size);
    }

    protected override float[] ForwardCore(float[] input, int batch, bool training)
    {
        var y = _output.Rows(batch);
        int size = InputShape.Size;
        _compute.For(batch, size, (start, end) =>
            TensorPrimitives.Max(input.AsSpan(start * size, (end - start) * size), 0f, y.AsSpan(start * size, (end - start) * size)));
        return y;
    }

    protected override float[]? BackwardCore(float[] gradOutput, bool inputGradient)
    {
        if (!inputGradient) return null;
        var dx = _gradInput.Rows(Batch);
        var y = _output.Current;
        int size = InputShape.Size;
        _compute.For(Batch, size, (start, end) =>
        {
            int offset = start * size, count = (end - start) * size;
            SimdOps.ReluBackward(y.AsSpan(offset, count), gradOutput.AsSpan(offset, count), dx.AsSpan(offset, count));
        });
        return dx;
    }
}
