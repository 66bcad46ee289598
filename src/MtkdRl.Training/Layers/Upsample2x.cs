namespace MtkdRl.Training;

/// <summary>
/// Bilinear 2x upsampling, [B, C, H, W] -> [B, C, 2H, 2W], with half-pixel centres (the usual
/// align_corners=false convention): output index o reads source coordinate s = max((o + 0.5) / 2 - 0.5, 0),
/// i0 = floor(s), i1 = min(i0 + 1, n - 1), weights 1 - (s - i0) and s - i0, separably along rows and columns.
/// Backward scatters each dy back to its four sources with the same weights. No parameters.
/// </summary>
public sealed class Upsample2x : Layer
{
    private readonly CpuCompute _compute;
    private readonly BatchBuffer<float> _output, _gradInput;
    private readonly Taps _rows, _cols;

    public Upsample2x(string name, SampleShape input, CpuCompute compute)
        : base(name, input, SampleShape.Image(input.Channels, 2 * input.Height, 2 * input.Width))
    {
        _compute = compute;
        _output = new BatchBuffer<float>(OutputShape.Size);
        _gradInput = new BatchBuffer<float>(input.Size);
        _rows = Taps.For(input.Height);
        _cols = Taps.For(input.Width);
    }

    /// <summary>For each output index along one axis: the two source indices and their weights.</summary>
    internal readonly record struct Taps(int[] I0, int[] I1, float[] W0, float[] W1)
    {
        public static Taps For(int n)
        {
            int m = 2 * n;
            var t = new Taps(new int[m], new int[m], new float[m], new float[m]);
            for (int o = 0; o < m; o++)
            {
                double s = Math.Max((o + 0.5) / 2 - 0.5, 0);
                int i0 = Math.Min((int)Math.Floor(s), n - 1);
                int i1 = Math.Min(i0 + 1, n - 1);
                double frac = s - i0;
                t.I0[o] = i0; t.I1[o] = i1;
                t.W0[o] = (float)(1 - frac); t.W1[o] = (float)frac;
            }
            return t;
        }
    }

    protected override float[] ForwardCore(float[] input, int batch, bool training)
    {
        var y = _output.Rows(batch);
        int h = InputShape.Height, w = InputShape.Width, plane = h * w, outPlane = OutputShape.Plane, ow = 2 * w;
        _compute.For(batch * InputShape.Channels, outPlane, (p0, p1) =>
        {
            for (int p = p0; p < p1; p++)
            {
                var x = input.AsSpan(p * plane, plane);
                var o = y.AsSpan(p * outPlane, outPlane);
                for (int oy = 0; oy < 2 * h; oy++)
                {
                    var r0 = x.Slice(_rows.I0[oy] * w, w);
                    var r1 = x.Slice(_rows.I1[oy] * w, w);
                    float a = _rows.W0[oy], b = _rows.W1[oy];
                    var row = o.Slice(oy * ow, ow);
                    for (int ox = 0; ox < ow; ox++)
                    {
                        int c0 = _cols.I0[ox], c1 = _cols.I1[ox];
                        float top = _cols.W0[ox] * r0[c0] + _cols.W1[ox] * r0[c1];
                        float bottom = _cols.W0[ox] * r1[c0] + _cols.W1[ox] * r1[c1];
                        row[ox] = a * top + b * bottom;
                    }
                }
            }
        });
        return y;
    }

    protected override float[]? BackwardCore(float[] gradOutput, bool inputGradient)
    {
        if (!inputGradient) return null;
        var dx = _gradInput.Rows(Batch);
        int h = InputShape.Height, w = InputShape.Width, plane = h * w, outPlane = OutputShape.Plane, ow = 2 * w;
        _compute.For(Batch * InputShape.Channels, outPlane, (p0, p1) =>
        {
            for (int p = p0; p < p1; p++)
            {
                var g = gradOutput.AsSpan(p * outPlane, outPlane);
                var d = dx.AsSpan(p * plane, plane);
                d.Clear();
                for (int oy = 0; oy < 2 * h; oy++)
                {
                    var r0 = d.Slice(_rows.I0[oy] * w, w);
                    var r1 = d.Slice(_rows.I1[oy] * w, w);
                    float a = _rows.W0[oy], b = _rows.W1[oy];
                    var row = g.Slice(oy * ow, ow);
                    for (int ox = 0; ox < ow; ox++)
                    {
                        int c0 = _cols.I0[ox], c1 = _cols.I1[ox];
                        float ga = a * row[ox], gb = b * row[ox];
                        r0[c0] += _cols.W0[ox] * ga; r0[c1] += _cols.W1[ox] * ga;
                        r1[c0] += _cols.W0[ox] * gb; r1[c1] += _cols.W1[ox] * gb;
                    }
                }
            }
        });
        return dx;
    }
}
