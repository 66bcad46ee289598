namespace MtkdRl.Training;

/// <summary>
/// Mean over Kernel x Kernel windows every Stride pixels (default stride = kernel), per channel. Padding
/// counts as zeros in the mean (the divisor is always Kernel^2, PyTorch's count_include_pad).
/// Backward spreads each window's gradient evenly over its pixels.
/// </summary>
public sealed class AvgPool2d : Layer
{
    private readonly CpuCompute _compute;
    private readonly ConvGeometry _geometry;
    private readonly BatchBuffer<float> _output, _gradInput;

    public AvgPool2d(string name, SampleShape input, int kernel, CpuCompute compute, int stride = 0, int padding = 0)
        : this(name, new ConvGeometry(name, input, kernel, stride <= 0 ? kernel : stride, padding), compute)
    {
    }

    private AvgPool2d(string name, ConvGeometry geometry, CpuCompute compute)
        : base(name, geometry.Input, new SampleShape(geometry.Input.Channels, geometry.OutHeight, geometry.OutWidth))
    {
        _compute = compute;
        _geometry = geometry;
        _output = new BatchBuffer<float>(OutputShape.Size);
        _gradInput = new BatchBuffer<float>(InputShape.Size);
    }

    public int Kernel => _geometry.Kernel;
    public int Stride => _geometry.Stride;
    public int Padding => _geometry.Padding;

    protected override float[] ForwardCore(float[] input, int batch, bool training)
    {
        var y = _output.Rows(batch);
        var g = _geometry;
        int inPlane = g.Input.Plane, outPlane = g.OutPlane;
        _compute.For(batch * g.Input.Channels, inPlane, (p0, p1) =>
        {
            for (int plane = p0; plane < p1; plane++)
                Sweep(g, input.AsSpan(plane * inPlane, inPlane), y.AsSpan(plane * outPlane, outPlane), backward: false);
        });
        return y;
    }

    protected override float[]? BackwardCore(float[] gradOutput, bool inputGradient)
    {
        if (!inputGradient) return null;
        var dx = _gradInput.Rows(Batch);
        var g = _geometry;
        int inPlane = g.Input.Plane, outPlane = g.OutPlane;
        _compute.For(Batch * g.Input.Channels, inPlane, (p0, p1) =>
        {
            for (int plane = p0; plane < p1; plane++)
            {
                var dst = dx.AsSpan(plane * inPlane, inPlane);
                dst.Clear();
                Sweep(g, dst, gradOutput.AsSpan(plane * outPlane, outPlane), backward: true);
            }
        });
        return dx;
    }

    /// <summary>Forward: pooled[o] = mean of plane over window o. Backward: plane[window o] += pooled[o] / k^2.</summary>
    private static void Sweep(in ConvGeometry g, Span<float> plane, Span<float> pooled, bool backward)
    {
        int H = g.Input.Height, W = g.Input.Width, k = g.Kernel, s = g.Stride, pad = g.Padding;
        float scale = 1f / (k * k);
        for (int oy = 0; oy < g.OutHeight; oy++)
        {
            int y0 = Math.Max(0, oy * s - pad), y1 = Math.Min(H, oy * s - pad + k);
            for (int ox = 0; ox < g.OutWidth; ox++)
            {
                int x0 = Math.Max(0, ox * s - pad), x1 = Math.Min(W, ox * s - pad + k);
                int o = oy * g.OutWidth + ox;
                if (backward)
                {
                    float share = pooled[o] * scale;
                    for (int iy = y0; iy < y1; iy++)
                        for (int ix = x0; ix < x1; ix++) plane[iy * W + ix] += share;
                }
                else
                {
                    float sum = 0f;
                    for (int iy = y0; iy < y1; iy++)
                        for (int ix = x0; ix < x1; ix++) sum += plane[iy * W + ix];
                    pooled[o] = sum * scale;
                }
            }
        }
    }
}
