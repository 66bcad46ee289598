using ILGPU.Algorithms;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>
/// A catalog divergence D(ps^T, pt^T) as the ILGPU sweep computes it (docs/DESIGN.md §7; the float64 specification
/// is ReferenceLosses): Value without the T^2 factor, and dD/ds_c with s = zs / T after Prepare.
/// </summary>
public interface ILogitDivergenceTerm
{
    double Value(DivergenceRow r);

    /// <summary>The row with the constants Gradient reads.</summary>
    DivergenceRow Prepare(DivergenceRow r);

    double Gradient(DivergenceRow r, int c);
}

/// <summary>R = KL(ps || pt) = sum ps (log ps - log pt); dR/ds_c = ps_c (rho_c - R).</summary>
public struct ReverseKlTerm : ILogitDivergenceTerm
{
    public readonly double Value(DivergenceRow r)
    {
        double sum = 0.0;
        for (int c = 0; c < r.C; c++) sum += DivergenceRow.XLogRatio(r.Ls(c), r.Lt(c));
        return sum;
    }

    public readonly DivergenceRow Prepare(DivergenceRow r)
    {
        r.R = Value(r);
        return r;
    }

    public readonly double Gradient(DivergenceRow r, int c)
    {
        double ls = r.Ls(c);
        return XMath.Exp(ls) * (ls - r.Lt(c) - r.R);
    }
}

/// <summary>
/// J = beta KL(pt || M) + (1 - beta) KL(ps || M), M = beta pt + (1 - beta) ps;
/// dJ/ds_c = (1 - beta) ps_c (rho_c - KL(ps || M)), rho = log ps - log M. Beta is the mixing coefficient.
/// </summary>
public struct JsdTerm : ILogitDivergenceTerm
{
    public readonly double Value(DivergenceRow r)
    {
        double sum = 0.0;
        for (int c = 0; c < r.C; c++)
        {
            double ls = r.Ls(c), lt = r.Lt(c), lm = DivergenceRow.LogMixture(r.Beta, lt, ls);
            sum += r.Beta * DivergenceRow.XLogRatio(lt, lm) + (1.0 - r.Beta) * DivergenceRow.XLogRatio(ls, lm);
        }
        return sum;
    }

    public readonly DivergenceRow Prepare(DivergenceRow r)
    {
        double toMixture = 0.0;
        for (int c = 0; c < r.C; c++)
        {
            double ls = r.Ls(c);
            toMixture += DivergenceRow.XLogRatio(ls, DivergenceRow.LogMixture(r.Beta, r.Lt(c), ls));
        }
        r.R = toMixture;
        return r;
    }

    public readonly double Gradient(DivergenceRow r, int c)
    {
        double ls = r.Ls(c);
        return (1.0 - r.Beta) * XMath.Exp(ls) * (ls - DivergenceRow.LogMixture(r.Beta, r.Lt(c), ls) - r.R);
    }
}

/// <summary>
/// Decoupled KD with target t = y: alpha TCKD + beta NCKD, TCKD = KL([pt_t, 1 - pt_t] || [ps_t, 1 - ps_t]),
/// NCKD = KL over the classes != t of the renormalised distributions. Gradient: alpha (ps_t - pt_t) at t,
/// elsewhere -alpha (ps_t - pt_t) ps^_c + beta (ps^_c - pt^_c). A row without a label is 0.
/// </summary>
public struct DkdTerm : ILogitDivergenceTerm
{
    public readonly double Value(DivergenceRow r)
    {
        if (r.Y < 0) return 0.0;
        double lsNot = r.LogNonTarget(teacher: false), ltNot = r.LogNonTarget(teacher: true);
        double tckd = DivergenceRow.XLogRatio(r.Lt(r.Y), r.Ls(r.Y)) + DivergenceRow.XLogRatio(ltNot, lsNot);
        double nckd = 0.0;
        for (int c = 0; c < r.C; c++)
            if (c != r.Y) nckd += DivergenceRow.XLogRatio(r.Lt(c) - ltNot, r.Ls(c) - lsNot);
        return r.Alpha * tckd + r.Beta * nckd;
    }

    public readonly DivergenceRow Prepare(DivergenceRow r)
    {
        r.LsNot = r.LogNonTarget(teacher: false);
        r.LtNot = r.LogNonTarget(teacher: true);
        r.Dt = XMath.Exp(r.Ls(r.Y)) - XMath.Exp(r.Lt(r.Y));
        return r;
    }

    public readonly double Gradient(DivergenceRow r, int c)
    {
        if (c == r.Y) return r.Alpha * r.Dt;
        double psHat = XMath.Exp(r.Ls(c) - r.LsNot), ptHat = XMath.Exp(r.Lt(c) - r.LtNot);
        return -r.Alpha * r.Dt * psHat + r.Beta * (psHat - ptHat);
    }
}
