using MathNet.Numerics.Distributions;

namespace MtkdRl.Reports;

/// <summary>
/// Welch's unequal-variance t-test of the difference of two means: t = (ma - mb) / sqrt(va/na + vb/nb) with
/// Welch-Satterthwaite degrees of freedom; the two-sided p-value is 2 P(T_df > |t|). NaN when either side has
/// fewer than two values or both variances are zero (no spread to judge a difference against).
/// </summary>
public static class WelchTest
{
    public static (double T, double DegreesOfFreedom, double P) TwoSided(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        if (a.Count < 2 || b.Count < 2) return (double.NaN, double.NaN, double.NaN);
        var (ma, va) = MeanVariance(a);
        var (mb, vb) = MeanVariance(b);
        double sa = va / a.Count, sb = vb / b.Count, se2 = sa + sb;
        if (!(se2 > 0)) return (double.NaN, double.NaN, double.NaN);
        double t = (ma - mb) / Math.Sqrt(se2);
        double df = se2 * se2 / (sa * sa / (a.Count - 1) + sb * sb / (b.Count - 1));
        return (t, df, TwoSidedP(t, df));
    }

    /// <summary>The two-sided p-value of a t statistic with <paramref name="df"/> degrees of freedom: 2 P(T_df > |t|).</summary>
    public static double TwoSidedP(double t, double df) => Math.Clamp(2 * (1 - StudentT.CDF(0, 1, df, Math.Abs(t))), 0, 1);

    /// <summary>Mean and unbiased sample variance.</summary>
    public static (double Mean, double Variance) MeanVariance(IReadOnlyList<double> x)
    {
        double mean = x.Average();
        double ss = 0;
        foreach (var v in x) ss += (v - mean) * (v - mean);
        return (mean, x.Count > 1 ? ss / (x.Count - 1) : double.NaN);
    }
}
