using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>
/// Max over Kernel x Kernel windows every Stride pixels (default stride = kernel), per channel, with
/// optional padding that never wins (padding at most kernel/2, so every window holds a real pixel).
/// Ties go to the first maximum in row-major window order, and backward sends the whole gradient of a
/// window to that one pixel (windows that overlap add up). A NaN in a window wins, so it propagates.
/// </summary>
public sealed class MaxPool2d : Layer
{
    private readonly CpuCompute _compute;
    private readonly ConvGeometry _geometry;
    private readonly BatchBuffer<float> _output, _gradInput;
    private readonly BatchBuffer<int> _argmax;

    public MaxPool2d(string name, SampleShape input, int kernel, CpuCompute compute, int stride = 0, int padding = 0)
        : this(name, new ConvGeometry(name, input, kernel, stride <= 0 ? kernel : stride, padding), compute)
    {
    }

    private MaxPool2d(string name, ConvGeometry geometry, CpuCompute compute)
        : base(name, geometry.Input, new SampleShape(geometry.Input.Channels, geometry.OutHeight, geometry.OutWidth))
    {
        if (geometry.Padding > geometry.Kernel / 2)
            throw new MtkdInputException($"layer '{name}': padding {geometry.Padding} exceeds half the {geometry.Kernel}x{geometry.Kernel} window");
        _compute = compute;
        _geometry = geometry;
        _output = new BatchBuffer<float>(OutputShape.Size);
        _gradInput = new BatchBuffer<float>(InputShape.Size);
        _argmax = new BatchBuffer<int>(OutputShape.Size);
    }

    public int Kernel => _geometry.Kernel;
    public int Stride => _geometry.Stride;
    public int Padding => _geometry.Padding;

    protected override float[] ForwardCore(float[] input, int batch, bool training)
    {
        var y = _output.Rows(batch);
        var argmax = _argmax.Rows(batch);
        var g = _geometry;
        int planes = batch * g.Input.Channels, inPlane = g.Input.Plane, outPlane = g.OutPlane;
        _compute.For(planes, inPlane, (p0, p1) =>
        {
            for (int plane = p0; plane < p1; plane++)
                PoolPlane(g, input.AsSpan(plane * inPlane, inPlane), y.AsSpan(plane * outPlane, outPlane),
                    argmax.AsSpan(plane * outPlane, outPlane));
        });
        return y;
    }

    protected override float[]? BackwardCore(float[] gradOutput, bool inputGradient)
    {
        if (!inputGradient) return null;
        var dx = _gradInput.Rows(Batch);
        var argmax = _argmax.Current;
        int planes = Batch * InputShape.Channels, inPlane = InputShape.Plane, outPlane = OutputShape.Plane;
        _compute.For(planes, inPlane, (p0, p1) =>
        {
            for (int plane = p0; plane < p1; plane++)
            {
                var dst = dx.AsSpan(plane * inPlane, inPlane);
                dst.Clear();
                var grad = gradOutput.AsSpan(plane * outPlane, outPlane);
                var from = argmax.AsSpan(plane * outPlane, outPlane);
                for (int o = 0; o < outPlane; o++) dst[from[o]] += grad[o];
            }
        });
        return dx;
    }

    private static void PoolPlane(in ConvGeometry g, ReadOnlySpan<float> x, Span<float> y, Span<int> argmax)
    {
        int H = g.Input.Height, W = g.Input.Width, k = g.Kernel, s = g.Stride, pad = g.Padding;
        for (int oy = 0; oy < g.OutHeight; oy++)
        {
            int y0 = Math.Max(0, oy * s - pad), y1 = Math.Min(H, oy * s - pad + k);
            for (int ox = 0; ox < g.OutWidth; ox++)
            {
                int x0 = Math.Max(0, ox * s - pad), x1 = Math.Min(W, ox * s - pad + k);
                int best = y0 * W + x0;
                float bestValue = x[best];
                for (int iy = y0; iy < y1 && !float.IsNaN(bestValue); iy++)
                {
                    for (int ix = x0; ix < x1; ix++)
                    {
                        float v = x[iy * W + ix];
                        if (v > bestValue || float.IsNaN(v))
                        {
                            bestValue = v;
                            best = iy * W + ix;
                            if (float.IsNaN(v)) break;
                        }
                    }
                }
                y[oy * g.OutWidth + ox] = bestValue;
                argmax[oy * g.OutWidth + ox] = best;
            }
        }
    }
}
