using System.Numerics.Tensors;
using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>
/// Batch normalisation per channel: BatchNorm2d on images [B, C, H, W] (statistics over B*H*W values per
/// channel), BatchNorm1d on vectors [B, D] (statistics over the B rows per feature).
///   training: mu, var = mean and biased variance of the batch; xhat = (x - mu) / sqrt(var + eps);
///             y = gamma xhat + beta; running = (1 - momentum) running + momentum (mu, unbiased var)
///   eval:     the same with mu, var = the running statistics.
/// Backward (N values per channel, s = 1/sqrt(var + eps)):
///   dbeta = sum dy, dgamma = sum dy xhat,
///   training: dx = gamma s (dy - dbeta/N - xhat dgamma/N)     eval: dx = gamma s dy.
/// Parameters weight (gamma, starts at 1) and bias (beta, 0); buffers running_mean (0) and running_var (1),
/// as PyTorch names and initialises them. A batch of one row is accepted (its variance is 0).
/// </summary>
public sealed class BatchNorm : Layer
{
    private readonly CpuCompute _compute;
    private readonly BatchBuffer<float> _output, _gradInput, _normalized;
    private readonly float[] _mean, _invStd, _sum, _sumProduct, _scaleDy, _scaleXhat, _shift;

    public BatchNorm(string name, SampleShape shape, CpuCompute compute, double momentum = 0.1, double epsilon = 1e-5)
        : base(name, shape, shape)
    {
        if (!(momentum is >= 0 and <= 1)) throw new MtkdInputException($"layer '{name}': momentum must be in [0, 1] (got {momentum})");
        if (!(epsilon > 0)) throw new MtkdInputException($"layer '{name}': epsilon must be positive (got {epsilon})");
        _compute = compute;
        Momentum = momentum;
        Epsilon = epsilon;
        int C = shape.Channels;
        Weight = new Parameter($"{name}.weight", [C], decay: false);
        Bias = new Parameter($"{name}.bias", [C], decay: false);
        RunningMean = new NamedTensor($"{name}.running_mean", [C]);
        RunningVar = new NamedTensor($"{name}.running_var", [C]);
        Weight.Value.AsSpan().Fill(1f);
        RunningVar.Value.AsSpan().Fill(1f);
        Parameters = [Weight, Bias];
        Buffers = [RunningMean, RunningVar];
        _output = new BatchBuffer<float>(shape.Size);
        _gradInput = new BatchBuffer<float>(shape.Size);
        _normalized = new BatchBuffer<float>(shape.Size);
        _mean = new float[C];
        _invStd = new float[C];
        _sum = new float[C];
        _sumProduct = new float[C];
        _scaleDy = new float[C];
        _scaleXhat = new float[C];
        _shift = new float[C];
    }

    public double Momentum { get; }
    public double Epsilon { get; }
    public Parameter Weight { get; }
    public Parameter Bias { get; }
    public NamedTensor RunningMean { get; }
    public NamedTensor RunningVar { get; }
    public override IReadOnlyList<Parameter> Parameters { get; }
    public override IReadOnlyList<NamedTensor> Buffers { get; }

    private int Channels => InputShape.Channels;
    private int Plane => InputShape.Plane;

    protected override float[] ForwardCore(float[] input, int batch, bool training)
    {
        var y = _output.Rows(batch);
        var xhat = _normalized.Rows(batch);
        long count = (long)batch * Plane;
        if (training)
        {
            // xhat = x - mu first; its sum of squares is the variance (two passes: no cancellation).
            Sums(input, batch, _sum);
            for (int c = 0; c < Channels; c++) _mean[c] = (float)(_sum[c] / (double)count);
            Center(input, batch, xhat);
            SumsOfSquares(xhat, batch, _sumProduct);
            float m = (float)Momentum;
            for (int c = 0; c < Channels; c++)
            {
                double variance = _sumProduct[c] / (double)count;
                _invStd[c] = (float)(1.0 / Math.Sqrt(variance + Epsilon));
                double unbiased = count > 1 ? _sumProduct[c] / (double)(count - 1) : variance;
                RunningMean.Value[c] = (1 - m) * RunningMean.Value[c] + m * _mean[c];
                RunningVar.Value[c] = (float)((1 - Momentum) * RunningVar.Value[c] + Momentum * unbiased);
            }
        }
        else
        {
            RunningMean.Value.CopyTo(_mean, 0);
            for (int c = 0; c < Channels; c++) _invStd[c] = (float)(1.0 / Math.Sqrt(RunningVar.Value[c] + Epsilon));
            Center(input, batch, xhat);
        }
        ScaleShift(xhat, batch, y);
        return y;
    }

    protected override float[]? BackwardCore(float[] gradOutput, bool inputGradient)
    {
        int batch = Batch;
        var xhat = _normalized.Current;
        Sums(gradOutput, batch, Bias.Grad);
        DotProducts(gradOutput, xhat, batch, Weight.Grad);
        if (!inputGradient) return null;
        var dx = _gradInput.Rows(batch);
        int C = Channels;
        float invCount = 1f / (batch * Plane);
        // dx = a dy + b xhat + c per channel.
        float[] scaleDy = _scaleDy, scaleXhat = _scaleXhat, shift = _shift;
        for (int c = 0; c < C; c++)
        {
            float gs = Weight.Value[c] * _invStd[c];
            scaleDy[c] = gs;
            scaleXhat[c] = Training ? -gs * Weight.Grad[c] * invCount : 0f;
            shift[c] = Training ? -gs * Bias.Grad[c] * invCount : 0f;
        }
        Affine3(gradOutput, scaleDy, xhat, scaleXhat, shift, batch, dx);
        return dx;
    }

    /// <summary>sums[c] = sum of channel c over the batch.</summary>
    private void Sums(float[] x, int batch, float[] sums)
    {
        int C = Channels, S = Plane;
        if (S == 1)
        {
            SimdOps.ColumnSums(x.AsSpan(0, batch * C), batch, sums);
            return;
        }
        _compute.For(C, (long)batch * S, (c0, c1) =>
        {
            for (int c = c0; c < c1; c++)
            {
                double sum = 0;
                for (int b = 0; b < batch; b++) sum += TensorPrimitives.Sum(x.AsSpan((b * C + c) * S, S));
                sums[c] = (float)sum;
            }
        });
    }

    private void SumsOfSquares(float[] x, int batch, float[] sums) => DotProducts(x, x, batch, sums);

    /// <summary>sums[c] = sum over channel c of x * z.</summary>
    private void DotProducts(float[] x, float[] z, int batch, float[] sums)
    {
        int C = Channels, S = Plane;
        if (S == 1)
        {
            Array.Clear(sums);
            for (int b = 0; b < batch; b++)
                TensorPrimitives.MultiplyAdd(x.AsSpan(b * C, C), z.AsSpan(b * C, C), sums, sums);
            return;
        }
        _compute.For(C, (long)batch * S, (c0, c1) =>
        {
            for (int c = c0; c < c1; c++)
            {
                double sum = 0;
                for (int b = 0; b < batch; b++)
                    sum += TensorPrimitives.Dot(x.AsSpan((b * C + c) * S, S), z.AsSpan((b * C + c) * S, S));
                sums[c] = (float)sum;
            }
        });
    }

    /// <summary>xhat = x - mean (per channel).</summary>
    private void Center(float[] x, int batch, float[] xhat)
    {
        int C = Channels, S = Plane;
        var mean = _mean;
        if (S == 1)
        {
            for (int b = 0; b < batch; b++) TensorPrimitives.Subtract(x.AsSpan(b * C, C), mean, xhat.AsSpan(b * C, C));
            return;
        }
        _compute.For(batch * C, S, (p0, p1) =>
        {
            for (int p = p0; p < p1; p++) TensorPrimitives.Subtract(x.AsSpan(p * S, S), mean[p % C], xhat.AsSpan(p * S, S));
        });
    }

    /// <summary>xhat *= invStd; y = gamma xhat + beta (per channel).</summary>
    private void ScaleShift(float[] xhat, int batch, float[] y)
    {
        int C = Channels, S = Plane;
        var invStd = _invStd;
        var gamma = Weight.Value;
        var beta = Bias.Value;
        if (S == 1)
        {
            for (int b = 0; b < batch; b++)
            {
                var row = xhat.AsSpan(b * C, C);
                TensorPrimitives.Multiply(row, invStd, row);
                TensorPrimitives.MultiplyAdd(row, gamma, beta, y.AsSpan(b * C, C));
            }
            return;
        }
        _compute.For(batch * C, S, (p0, p1) =>
        {
            for (int p = p0; p < p1; p++)
            {
                int c = p % C;
                var block = xhat.AsSpan(p * S, S);
                TensorPrimitives.Multiply(block, invStd[c], block);
                SimdOps.ScaleShift(block, gamma[c], beta[c], y.AsSpan(p * S, S));
            }
        });
    }

    /// <summary>dst = a dy + b xhat + c, with a, b, c per channel.</summary>
    private void Affine3(float[] dy, float[] a, float[] xhat, float[] b, float[] c, int batch, float[] dst)
    {
        int C = Channels, S = Plane;
        if (S == 1)
        {
            for (int r = 0; r < batch; r++)
            {
                var row = dst.AsSpan(r * C, C);
                TensorPrimitives.MultiplyAdd(dy.AsSpan(r * C, C), a, c, row);
                TensorPrimitives.MultiplyAdd(xhat.AsSpan(r * C, C), b, row, row);
            }
            return;
        }
        _compute.For(batch * C, S, (p0, p1) =>
        {
            for (int p = p0; p < p1; p++)
            {
                int ch = p % C;
                var block = dst.AsSpan(p * S, S);
                SimdOps.ScaleShift(dy.AsSpan(p * S, S), a[ch], c[ch], block);
                TensorPrimitives.MultiplyAdd(xhat.AsSpan(p * S, S), b[ch], block, block);
            }
        });
    }
}
