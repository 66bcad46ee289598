using ILGPU;
using ILGPU.Algorithms;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>
/// One row b and teacher k of a catalog divergence, in double: log ps^T[c] = zs[c]/T - lse_s and
/// log pt^T[c] = zt[c]/T - lse_t, computed on the fly from the float logits. Prepare fills the row constants
/// (R, LsNot, LtNot, Dt) that a divergence's gradient reads; their meaning depends on the divergence.
/// </summary>
public struct DivergenceRow
{
    public ArrayView<float> Zs, Zt;
    public int C, Y;
    public double InvT, LseS, LseT, Alpha, Beta;
    public double R, LsNot, LtNot, Dt;

    public readonly double Ls(int c) => Zs[c] * InvT - LseS;

    public readonly double Lt(int c) => Zt[c] * InvT - LseT;

    /// <summary>Ls(c) of the student, or Lt(c) of the teacher.</summary>
    public readonly double L(bool teacher, int c) => teacher ? Lt(c) : Ls(c);

    /// <summary>log sum_c e^{z[c]/T}; NaN when a z is NaN or ±Inf (the probe sum z - z), as the KL kernel reports it.</summary>
    public static double LogSumExp(ArrayView<float> z, int c, double invT)
    {
        double m = double.NegativeInfinity, probe = 0.0;
        for (int j = 0; j < c; j++)
        {
            double v = z[j];
            m = XMath.Max(m, v);
            probe += v - v;
        }
        double sum = 0.0;
        for (int j = 0; j < c; j++) sum += XMath.Exp((z[j] - m) * invT);
        return m * invT + XMath.Log(sum) + probe;
    }

    /// <summary>e^lp (lp - lq), 0 where e^lp is 0 (0 log 0 = 0).</summary>
    public static double XLogRatio(double lp, double lq)
    {
        double p = XMath.Exp(lp);
        return p == 0.0 ? 0.0 : p * (lp - lq);
    }

    /// <summary>log(beta e^lt + (1 - beta) e^ls) without underflow.</summary>
    public static double LogMixture(double beta, double lt, double ls)
    {
        double a = XMath.Log(beta) + lt, b = XMath.Log(1.0 - beta) + ls, hi = XMath.Max(a, b);
        return hi == double.NegativeInfinity ? hi : hi + XMath.Log(1.0 + XMath.Exp(XMath.Min(a, b) - hi));
    }

    /// <summary>log(1 - p_y) = log sum_{c != y} p_c of the student or the teacher, without cancellation.</summary>
    public readonly double LogNonTarget(bool teacher)
    {
        double hi = double.NegativeInfinity;
        for (int c = 0; c < C; c++) if (c != Y) hi = XMath.Max(hi, L(teacher, c));
        if (double.IsInfinity(hi) || double.IsNaN(hi)) return hi;
        double sum = 0.0;
        for (int c = 0; c < C; c++) if (c != Y) sum += XMath.Exp(L(teacher, c) - hi);
        return hi + XMath.Log(sum);
    }
}
