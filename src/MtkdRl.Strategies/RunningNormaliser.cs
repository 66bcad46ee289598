using System.Numerics.Tensors;

namespace MtkdRl.Strategies;

/// <summary>
/// Running mean and variance of a few input channels over every value seen so far, and the standardisation
/// z = clip((v - mean) / std) they give. The moments are float64 (mean, M2, count) so long runs stay exact; the
/// float shift and scale used on the hot path are refreshed after each merge. Rows with label -1 and non-finite
/// values are left out of the moments.
/// </summary>
internal sealed class RunningNormaliser
{
    private readonly double[] _mean, _m2, _count;
    private readonly float[] _shift, _scale;

    public RunningNormaliser(int channels)
    {
        _mean = new double[channels];
        _m2 = new double[channels];
        _count = new double[channels];
        _shift = new float[channels];
        _scale = new float[channels];
        Array.Fill(_scale, 1f);
    }

    public int Channels => _mean.Length;

    /// <summary>
    /// Merges one channel's values of a batch, [rows, perRow] row-major, into its running moments: batch sums taken
    /// around a center (the batch mean when every row counts and every value is finite, else the running mean), so
    /// they stay small and exact enough in float64, then Chan et al.'s pairwise update.
    /// </summary>
    /// <param name="everyRowCounted">True when no label is -1 (computed once per batch by the caller).</param>
    /// <param name="scratch">At least values.Length floats.</param>
    public void Merge(int channel, ReadOnlySpan<float> values, ReadOnlySpan<int> labels, int rows, int perRow,
        bool everyRowCounted, Span<float> scratch)
    {
        double center = _mean[channel], s1 = 0, s2 = 0;
        long n = 0;
        var deviations = scratch[..(rows * perRow)];
        if (everyRowCounted && SumDeviations(values[..(rows * perRow)], deviations, out float batchMean, out s1, out s2))
        {
            center = batchMean;
            n = deviations.Length;
        }
        else
        {
            for (int r = 0; r < rows; r++)
            {
                if (!StrategyChecks.Counted(labels, r)) continue;
                for (int k = 0; k < perRow; k++)
                {
                    float v = values[r * perRow + k];
                    if (!float.IsFinite(v)) continue;
                    double d = v - center;
                    s1 += d;
                    s2 += d * d;
                    n++;
                }
            }
        }
        if (n == 0) return;
        double mean = center + s1 / n, m2 = Math.Max(0, s2 - s1 * s1 / n);
        double total = _count[channel] + n, delta = mean - _mean[channel];
        _mean[channel] += delta * n / total;
        _m2[channel] += m2 + delta * delta * _count[channel] * n / total;
        _count[channel] = total;
        double variance = total > 1 ? _m2[channel] / (total - 1) : 0;
        _shift[channel] = (float)_mean[channel];
        _scale[channel] = (float)(1.0 / Math.Sqrt(variance + 1e-8));
    }

    /// <summary>
    /// Vector path of the batch sums: the batch mean m in float, d = v - m, then sum d and sum d^2 (so the sum of
    /// squares is taken around the batch's own center and keeps the variance even for values far from 0). False
    /// when a value is not finite (the sums are then not finite either): the caller then takes the per-value path,
    /// which skips such values. The scalar double loop this replaces was as costly as the policy's forward.
    /// </summary>
    private static bool SumDeviations(ReadOnlySpan<float> values, Span<float> deviations, out float mean, out double sum, out double sumOfSquares)
    {
        mean = TensorPrimitives.Sum<float>(values) / values.Length;
        sum = sumOfSquares = double.NaN;
        if (!float.IsFinite(mean)) return false;
        TensorPrimitives.Subtract(values, mean, deviations);
        sum = TensorPrimitives.Sum<float>(deviations);
        sumOfSquares = TensorPrimitives.SumOfSquares<float>(deviations);
        return double.IsFinite(sum) && double.IsFinite(sumOfSquares);
    }

    /// <summary>z = clip((v - mean) / std, +-clip) for one channel, and 0 where v is not finite.</summary>
    public void Standardise(int channel, ReadOnlySpan<float> values, float clip, Span<float> z)
    {
        TensorPrimitives.Subtract(values, _shift[channel], z);
        TensorPrimitives.Multiply(z, _scale[channel], z);
        TensorPrimitives.Min(z, clip, z);
        TensorPrimitives.Max(z, -clip, z);
        if (float.IsFinite(TensorPrimitives.Sum<float>(values))) return;
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) z[i] = 0f;
    }

    /// <summary>Running mean and unbiased variance of one channel.</summary>
    public (double Mean, double Variance) Moments(int channel) =>
        (_mean[channel], _count[channel] > 1 ? _m2[channel] / (_count[channel] - 1) : 0);

    /// <summary>Writes the moments as scalars norm.{ch}.count/mean/m2 and the arrays norm_shift, norm_scale.</summary>
    public void Save(StrategyState s)
    {
        for (int ch = 0; ch < Channels; ch++)
        {
            s.Scalars[$"norm.{ch}.count"] = _count[ch];
            s.Scalars[$"norm.{ch}.mean"] = _mean[ch];
            s.Scalars[$"norm.{ch}.m2"] = _m2[ch];
        }
        s.Arrays["norm_shift"] = (float[])_shift.Clone();
        s.Arrays["norm_scale"] = (float[])_scale.Clone();
    }

    public void Load(StrategyState s)
    {
        s.CopyTo("norm_shift", _shift);
        s.CopyTo("norm_scale", _scale);
        for (int ch = 0; ch < Channels; ch++)
        {
            _count[ch] = s.Scalar($"norm.{ch}.count");
            _mean[ch] = s.Scalar($"norm.{ch}.mean");
            _m2[ch] = s.Scalar($"norm.{ch}.m2");
        }
    }
}
