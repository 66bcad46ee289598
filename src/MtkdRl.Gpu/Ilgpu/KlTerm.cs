using ILGPU.Algorithms;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>
/// KL(pt || ps) as a sum of non-negative terms. With y_c = log pt_c - log ps_c and r = e^y = pt/ps,
/// <code>
///   KL = sum_c pt_c y_c = sum_c ps_c f(y_c),   f(y) = y e^y - (e^y - 1) = sum_{n>=2} (n-1) y^n / n!  >= 0,
/// </code>
/// since the added terms sum to sum_c (ps_c - pt_c) = 0. The plain form sum pt y - (log ST - log SsT) loses
/// everything when teacher and student agree (KL near 0, both parts of order 1, and an error e in the
/// normalisers is an error e in KL). In this form that error shifts every y by e and changes the sum only by
/// about e KL plus e^2/2, which <see cref="Corrected"/> measures and removes. Each term is computed without
/// cancellation: the series (to y^12) below |y| = 1, where its truncation error is under 2e-9 relative, and
/// pt (y - 1) + ps above, which cancels at most threefold there and cannot overflow however far apart pt and ps are.
/// </summary>
public static class KlTerm
{
    public static float Of(float y, float pt, float ps)
    {
        if (XMath.Abs(y) < 1f)
        {
            // (n-1)/n! for n = 2..12.
            float series = 1f / 2f + y * (1f / 3f + y * (1f / 8f + y * (1f / 30f + y * (1f / 144f + y * (1f / 840f
                + y * (1f / 5760f + y * (1f / 45360f + y * (1f / 403200f + y * (1f / 3991680f + y * (1f / 43545600f))))))))));
            return ps * y * y * series;
        }
        return pt * (y - 1f) + ps;
    }

    /// <summary>
    /// ps (e^y - 1), whose sum over c is q = Q - 1, Q = sum ps e^y: the series below |y| = 1, pt - ps above.
    /// </summary>
    public static float Shift(float y, float pt, float ps)
    {
        if (XMath.Abs(y) < 1f)
        {
            // 1/n! for n = 1..12.
            float series = 1f + y * (1f / 2f + y * (1f / 6f + y * (1f / 24f + y * (1f / 120f + y * (1f / 720f + y * (1f / 5040f
                + y * (1f / 40320f + y * (1f / 362880f + y * (1f / 3628800f + y * (1f / 39916800f + y * (1f / 479001600f)))))))))));
            return ps * y * series;
        }
        return pt - ps;
    }

    /// <summary>
    /// KL from the sums F = sum ps f(y) and q = sum ps (e^y - 1) over the computed y. The normalisers' rounding
    /// shifts every y by the same e, which moves F at second order (about e^2/2), visible when KL is below ~1e-8.
    /// Q = 1 + q measures it (e = log Q) and removes it: KL = F / (1 + q) - h(q), h(q) = log1p(q) - q / (1 + q)
    /// = q^2/2 - 2q^3/3 + 3q^4/4 - ... &gt;= 0, a series below |q| = 0.01.
    /// </summary>
    public static float Corrected(float f, float q)
    {
        float h = XMath.Abs(q) < 0.01f
            ? q * q * (1f / 2f + q * (-2f / 3f + q * (3f / 4f + q * (-4f / 5f + q * (5f / 6f)))))
            : LogitRowStats.Log1p(q) - q / (1f + q);
        return f / (1f + q) - h;
    }
}

/// <summary>A lane's (or a warp's) sums of the KL sweep: F = sum ps f(y) and q = sum ps (e^y - 1).</summary>
public struct KlSums
{
    public float F, Q;
}

/// <summary>
/// What the KL sweep needs of a (teacher, student) pair: log pt^T = (zt - Mt)/T - log STt,
/// log ps^T = (zs - Ms)/T - log SsT, and their difference's constant part
/// LogRatio = (Mt - Ms)/T + log STt - log SsT, so y = (zt - zs)/T - LogRatio.
/// </summary>
public struct KlFrame
{
    public float InvT, TeacherMax, TeacherLogS, StudentMax, StudentLogS, LogRatio;
}
