using System.Numerics.Tensors;
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
        _pairs = geometry.Kernel == 2 && geometry.Stride == 2 && geometry.Padding == 0 && geometry.Input.Width % 2 == 0;
        _pairMax = new BatchBuffer<float>(_pairs ? geometry.Input.Size / 2 : 0);
        _pairIndex = new BatchBuffer<int>(_pairs ? geometry.Input.Size / 2 : 0);
    }

    /// <summary>2x2 windows, stride 2, no padding, even width: the vectorised path (<see cref="PairMax"/>).</summary>
    private readonly bool _pairs;
    private readonly BatchBuffer<float> _pairMax;
    private readonly BatchBuffer<int> _pairIndex;

    public int Kernel => _geometry.Kernel;
    public int Stride => _geometry.Stride;
    public int Padding => _geometry.Padding;

    protected override float[] ForwardCore(float[] input, int batch, bool training)
    {
        var y = _output.Rows(batch);
        var argmax = _argmax.Rows(batch);
        var g = _geometry;
        int planes = batch * g.Input.Channels, inPlane = g.Input.Plane, outPlane = g.OutPlane;
        if (_pairs)
        {
            PoolPairs(input, planes, y, argmax);
            return y;
        }
        _compute.For(planes, inPlane, (p0, p1) =>
        {
            for (int plane = p0; plane < p1; plane++)
            {
                PoolPlane(g, input.AsSpan(plane * inPlane, inPlane), y.AsSpan(plane * outPlane, outPlane),
                    argmax.AsSpan(plane * outPlane, outPlane));
                // Window indices are kept relative to the batch, as the pair path makes them.
                var windowIndex = argmax.AsSpan(plane * outPlane, outPlane);
                TensorPrimitives.Add(windowIndex, plane * inPlane, windowIndex);
            }
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
            // A range of planes only ever writes its own planes of dx.
            dx.AsSpan(p0 * inPlane, (p1 - p0) * inPlane).Clear();
            for (int o = p0 * outPlane; o < p1 * outPlane; o++) dx[argmax[o]] += gradOutput[o];
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

    /// <summary>
    /// 2x2 pooling as pair maxima along each row (every row has even width, so a flat sweep over whole planes
    /// never pairs across rows), then the larger of each two consecutive rows of pair maxima.
    /// </summary>
    private void PoolPairs(float[] input, int planes, float[] y, int[] argmax)
    {
        int W = InputShape.Width, Wo = OutputShape.Width, Ho = OutputShape.Height, inPlane = InputShape.Plane;
        int rowPairs = W / 2, planePairs = inPlane / 2, outPlane = OutputShape.Plane;
        var pairMax = _pairMax.Rows(Batch);
        var pairIndex = _pairIndex.Rows(Batch);
        _compute.For(planes, inPlane, (p0, p1) =>
        {
            int first = p0 * planePairs, count = (p1 - p0) * planePairs;
            PairMax.Horizontal(input.AsSpan(p0 * inPlane, 2 * count), count, p0 * inPlane,
                pairMax.AsSpan(first, count), pairIndex.AsSpan(first, count));
            for (int plane = p0; plane < p1; plane++)
            {
                for (int oy = 0; oy < Ho; oy++)
                {
                    int top = plane * planePairs + 2 * oy * rowPairs, bottom = top + rowPairs, o = plane * outPlane + oy * Wo;
                    PairMax.Vertical(pairMax.AsSpan(top, Wo), pairIndex.AsSpan(top, Wo), pairMax.AsSpan(bottom, Wo),
                        pairIndex.AsSpan(bottom, Wo), y.AsSpan(o, Wo), argmax.AsSpan(o, Wo));
                }
            }
        });
    }
}
