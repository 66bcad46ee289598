using MtkdRl.Training;

namespace MtkdRl.Tests.Training;

/// <summary>
/// Float64 forward passes written from the layers' definitions (direct loops, no im2col, no GEMM), reading
/// parameter values from a map so finite differences can perturb them. Batch [B, size] row-major.
/// </summary>
public static class ReferenceLayers
{
    /// <summary>Float64 copies of every parameter's values, keyed by parameter.</summary>
    public static Dictionary<Parameter, double[]> CopyParameters(IEnumerable<Parameter> parameters) =>
        parameters.ToDictionary(p => p, p => p.Value.Select(v => (double)v).ToArray());

    /// <summary>The layer's output in float64 (BatchNorm: batch statistics when training, else the running ones given).</summary>
    public static double[] Forward(Layer layer, double[] x, int B, Dictionary<Parameter, double[]> p, bool training,
        BatchNormRunning? running = null)
    {
        return layer switch
        {
            Linear l => Linear(l, x, B, p),
            ReLU => x.Select(v => Math.Max(v, 0)).ToArray(),
            Flatten => (double[])x.Clone(),
            Conv2d c => Conv(c, x, B, p),
            MaxPool2d m => Pool(m.InputShape, m.Kernel, m.Stride, m.Padding, x, B, max: true),
            AvgPool2d a => Pool(a.InputShape, a.Kernel, a.Stride, a.Padding, x, B, max: false),
            GlobalAvgPool g => GlobalAverage(g.InputShape, x, B),
            Upsample2x u => Upsample2x(u.InputShape, x, B),
            BatchNorm bn => BatchNorm(bn, x, B, p, training, running),
            Dropout d when !training || d.Probability == 0 => (double[])x.Clone(),
            _ => throw new NotSupportedException($"no reference for {layer.GetType().Name} (training: {training})"),
        };
    }

    /// <summary>
    /// An encoder-decoder body in float64: each encoder stage's output kept as its skip, then per decoder step the
    /// upsampled map joined with its skip (upsampled channels first, per sample) and the step's block. Returns the
    /// body's output and the bottleneck's activations.
    /// </summary>
    public static (double[] Output, double[] Bottleneck) Forward(EncoderDecoder body, double[] x, int B, Dictionary<Parameter, double[]> p, bool training,
        IReadOnlyDictionary<Layer, BatchNormRunning> running)
    {
        double[] Run(IEnumerable<Layer> layers, double[] a)
        {
            foreach (var layer in layers) a = Forward(layer, a, B, p, training, running.GetValueOrDefault(layer));
            return a;
        }
        var a = x;
        var skips = new List<double[]>();
        foreach (var stage in body.Encoder) skips.Add(a = Run(stage, a));
        var bottleneck = a;
        foreach (var d in body.Decoder)
        {
            var up = Forward(d.Up, a, B, p, training);
            var skip = skips[d.Skip];
            int su = d.Concat.ShapeA.Size, ss = d.Concat.ShapeB.Size;
            var joined = new double[B * (su + ss)];
            for (int s = 0; s < B; s++)
            {
                Array.Copy(up, s * su, joined, s * (su + ss), su);
                Array.Copy(skip, s * ss, joined, s * (su + ss) + su, ss);
            }
            a = Run(d.Block, joined);
        }
        return (a, bottleneck);
    }

    /// <summary>The running statistics a BatchNorm had before a Forward (the Forward itself updates them).</summary>
    public sealed record BatchNormRunning(double[] Mean, double[] Var);

    public static BatchNormRunning Running(BatchNorm bn) =>
        new(bn.RunningMean.Value.Select(v => (double)v).ToArray(), bn.RunningVar.Value.Select(v => (double)v).ToArray());

    private static double[] Linear(Linear l, double[] x, int B, Dictionary<Parameter, double[]> p)
    {
        int I = l.InFeatures, O = l.OutFeatures;
        var w = p[l.Weight];
        var b = l.Bias is null ? null : p[l.Bias];
        var y = new double[B * O];
        for (int r = 0; r < B; r++)
            for (int o = 0; o < O; o++)
            {
                double s = b?[o] ?? 0;
                for (int i = 0; i < I; i++) s += w[o * I + i] * x[r * I + i];
                y[r * O + o] = s;
            }
        return y;
    }

    private static double[] Conv(Conv2d c, double[] x, int B, Dictionary<Parameter, double[]> p)
    {
        var si = c.InputShape;
        var so = c.OutputShape;
        int k = c.Kernel;
        var w = p[c.Weight];
        var bias = c.Bias is null ? null : p[c.Bias];
        var y = new double[B * so.Size];
        for (int b = 0; b < B; b++)
            for (int co = 0; co < so.Channels; co++)
                for (int oy = 0; oy < so.Height; oy++)
                    for (int ox = 0; ox < so.Width; ox++)
                    {
                        double s = bias?[co] ?? 0;
                        for (int ci = 0; ci < si.Channels; ci++)
                            for (int ky = 0; ky < k; ky++)
                                for (int kx = 0; kx < k; kx++)
                                {
                                    int iy = oy * c.Stride + ky - c.Padding, ix = ox * c.Stride + kx - c.Padding;
                                    if (iy < 0 || iy >= si.Height || ix < 0 || ix >= si.Width) continue;
                                    s += w[((co * si.Channels + ci) * k + ky) * k + kx] * x[((b * si.Channels + ci) * si.Height + iy) * si.Width + ix];
                                }
                        y[((b * so.Channels + co) * so.Height + oy) * so.Width + ox] = s;
                    }
        return y;
    }

    private static double[] Pool(SampleShape si, int k, int stride, int pad, double[] x, int B, bool max)
    {
        int Ho = (si.Height + 2 * pad - k) / stride + 1, Wo = (si.Width + 2 * pad - k) / stride + 1;
        var y = new double[B * si.Channels * Ho * Wo];
        for (int plane = 0; plane < B * si.Channels; plane++)
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++)
                {
                    double acc = max ? double.NegativeInfinity : 0;
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++)
                        {
                            int iy = oy * stride + ky - pad, ix = ox * stride + kx - pad;
                            if (iy < 0 || iy >= si.Height || ix < 0 || ix >= si.Width) continue;
                            double v = x[(plane * si.Height + iy) * si.Width + ix];
                            acc = max ? Math.Max(acc, v) : acc + v;
                        }
                    y[(plane * Ho + oy) * Wo + ox] = max ? acc : acc / (k * k);
                }
        return y;
    }

    /// <summary>
    /// Bilinear resize by 2 with half-pixel centres: output o of n*2 reads source s = (o + 0.5) * n / (2n) - 0.5,
    /// clamped below at 0; the two neighbours floor(s) and floor(s) + 1 (clamped to n - 1) weigh 1 - f and f.
    /// </summary>
    public static double[] Upsample2x(SampleShape si, double[] x, int B)
    {
        int h = si.Height, w = si.Width, oh = 2 * h, ow = 2 * w;
        (int, int, double) Source(int o, int n)
        {
            double s = Math.Max((o + 0.5) * n / (2.0 * n) - 0.5, 0);
            int i0 = (int)Math.Floor(s);
            return (i0, Math.Min(i0 + 1, n - 1), s - i0);
        }
        var y = new double[B * si.Channels * oh * ow];
        for (int plane = 0; plane < B * si.Channels; plane++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                {
                    var (y0, y1, fy) = Source(oy, h);
                    var (x0, x1, fx) = Source(ox, w);
                    double At(int r, int c) => x[(plane * h + r) * w + c];
                    y[(plane * oh + oy) * ow + ox] = (1 - fy) * ((1 - fx) * At(y0, x0) + fx * At(y0, x1))
                        + fy * ((1 - fx) * At(y1, x0) + fx * At(y1, x1));
                }
        return y;
    }

    private static double[] GlobalAverage(SampleShape si, double[] x, int B)
    {
        var y = new double[B * si.Channels];
        for (int plane = 0; plane < B * si.Channels; plane++)
        {
            double s = 0;
            for (int i = 0; i < si.Plane; i++) s += x[plane * si.Plane + i];
            y[plane] = s / si.Plane;
        }
        return y;
    }

    private static double[] BatchNorm(BatchNorm bn, double[] x, int B, Dictionary<Parameter, double[]> p, bool training,
        BatchNormRunning? running)
    {
        int C = bn.InputShape.Channels, S = bn.InputShape.Plane;
        var gamma = p[bn.Weight];
        var beta = p[bn.Bias];
        var y = new double[x.Length];
        for (int c = 0; c < C; c++)
        {
            double mean, variance;
            if (training)
            {
                double sum = 0, sq = 0;
                for (int b = 0; b < B; b++) for (int i = 0; i < S; i++) sum += x[(b * C + c) * S + i];
                mean = sum / (B * S);
                for (int b = 0; b < B; b++) for (int i = 0; i < S; i++) sq += Math.Pow(x[(b * C + c) * S + i] - mean, 2);
                variance = sq / (B * S);
            }
            else
            {
                var r = running ?? throw new ArgumentException("eval-mode BatchNorm needs the running statistics");
                mean = r.Mean[c];
                variance = r.Var[c];
            }
            double inv = 1 / Math.Sqrt(variance + bn.Epsilon);
            for (int b = 0; b < B; b++)
                for (int i = 0; i < S; i++)
                {
                    int at = (b * C + c) * S + i;
                    y[at] = gamma[c] * (x[at] - mean) * inv + beta[c];
                }
        }
        return y;
    }
}
