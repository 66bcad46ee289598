using ILGPU;
using ILGPU.Algorithms;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>One teacher's feature slice fs, ft [D_k] in a catalog feature-loss sweep, with the constants Prepare fills.</summary>
public struct FeatureSlice
{
    public ArrayView<float> Fs, Ft;
    public int D;
    public double Eps;
    /// <summary>Cosine: &lt;fs,ft&gt;, |ft|, |fs||ft| + eps and the radial coefficient of the gradient.</summary>
    public double Dot, NormT, Den, Radial;

    /// <summary>sum (fs - fs) + (ft - ft): 0, or NaN when an element is NaN or ±Inf, so a bad slice shows as NaN.</summary>
    public readonly double Probe()
    {
        double p = 0.0;
        for (int j = 0; j < D; j++)
        {
            double s = Fs[j], t = Ft[j];
            p += (s - s) + (t - t);
        }
        return p;
    }
}

/// <summary>A catalog feature loss as the ILGPU sweep computes it (docs/DESIGN.md §7): Value and d/dfs[j] after Prepare.</summary>
public interface IFeatureLossTerm
{
    FeatureSlice Prepare(FeatureSlice s);

    double Value(FeatureSlice s);

    double Gradient(FeatureSlice s, int j);
}

/// <summary>1 - &lt;fs,ft&gt; / (|fs||ft| + eps); d/dfs = -ft / den + &lt;fs,ft&gt; |ft| fs / (|fs| den^2), the second term 0 at fs = 0.</summary>
public struct CosineLossTerm : IFeatureLossTerm
{
    public readonly FeatureSlice Prepare(FeatureSlice s)
    {
        double dot = 0.0, ss = 0.0, tt = 0.0;
        for (int j = 0; j < s.D; j++)
        {
            double a = s.Fs[j], t = s.Ft[j];
            dot += a * t;
            ss += a * a;
            tt += t * t;
        }
        double n = XMath.Sqrt(ss);
        s.Dot = dot;
        s.NormT = XMath.Sqrt(tt);
        s.Den = n * s.NormT + s.Eps;
        s.Radial = n > 0.0 ? dot * s.NormT / (n * s.Den * s.Den) : 0.0;
        return s;
    }

    public readonly double Value(FeatureSlice s) => 1.0 - s.Dot / s.Den;

    public readonly double Gradient(FeatureSlice s, int j) => -s.Ft[j] / s.Den + s.Radial * s.Fs[j];
}

/// <summary>(1/D) sum huber_1(fs - ft); d/dfs = clamp(fs - ft, -1, 1) / D.</summary>
public struct SmoothL1LossTerm : IFeatureLossTerm
{
    public readonly FeatureSlice Prepare(FeatureSlice s) => s;

    public readonly double Value(FeatureSlice s)
    {
        double sum = 0.0;
        for (int j = 0; j < s.D; j++)
        {
            double e = (double)s.Fs[j] - s.Ft[j], abs = XMath.Abs(e);
            sum += abs < 1.0 ? 0.5 * e * e : abs - 0.5;
        }
        return sum / s.D;
    }

    public readonly double Gradient(FeatureSlice s, int j) => XMath.Clamp((double)s.Fs[j] - s.Ft[j], -1.0, 1.0) / s.D;
}
