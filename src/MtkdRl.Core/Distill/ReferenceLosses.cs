namespace MtkdRl.Core.Distill;

/// <summary>
/// The float64 specification of every catalog loss other than kl and mse (docs/DESIGN.md §7), one row at a time.
/// Divergences take log-probabilities at temperature T (ls student, lt teacher) and return the divergence without
/// the T^2 factor; their gradients are with respect to the scaled student logits s = zs / T.
/// </summary>
public static class ReferenceLosses
{
    /// <summary>D(ls, lt) for one row and teacher; <paramref name="y"/> is the label (-1: ignored row).</summary>
    public static double Divergence(DistillLoss loss, ReadOnlySpan<double> ls, ReadOnlySpan<double> lt, int y)
    {
        switch (loss.Divergence)
        {
            case LogitDivergence.Kl:
                return KlTerms(lt, ls);
            case LogitDivergence.ReverseKl:
                return KlTerms(ls, lt);
            case LogitDivergence.Jsd:
            {
                double beta = loss.DivBeta, sum = 0;
                for (int c = 0; c < ls.Length; c++)
                {
                    double lm = LogMixture(beta, lt[c], ls[c]);
                    sum += beta * XLogRatio(lt[c], lm) + (1 - beta) * XLogRatio(ls[c], lm);
                }
                return sum;
            }
            case LogitDivergence.Dkd:
            {
                if (y < 0) return 0.0; // no label, no target class: the row is ignored
                var (lsNot, ltNot) = (LogNonTarget(ls, y), LogNonTarget(lt, y));
                double tckd = XLogRatio(lt[y], ls[y]) + XLogRatio(ltNot, lsNot);
                double nckd = 0;
                for (int c = 0; c < ls.Length; c++)
                    if (c != y) nckd += XLogRatio(lt[c] - ltNot, ls[c] - lsNot);
                return loss.DivAlpha * tckd + loss.DivBeta * nckd;
            }
            default:
                throw new MtkdInputException($"unknown logit divergence {(int)loss.Divergence}");
        }
    }

    /// <summary>g[c] = dD/ds_c for one row and teacher (s = zs / T).</summary>
    public static void DivergenceGradient(DistillLoss loss, ReadOnlySpan<double> ls, ReadOnlySpan<double> lt, int y, Span<double> g)
    {
        int C = ls.Length;
        switch (loss.Divergence)
        {
            case LogitDivergence.Kl:
                for (int c = 0; c < C; c++) g[c] = Math.Exp(ls[c]) - Math.Exp(lt[c]);
                return;
            case LogitDivergence.ReverseKl:
            {
                // dR/ds_c = ps_c (rho_c - R), rho = log ps - log pt.
                double r = KlTerms(ls, lt);
                for (int c = 0; c < C; c++) g[c] = Math.Exp(ls[c]) * (ls[c] - lt[c] - r);
                return;
            }
            case LogitDivergence.Jsd:
            {
                // dJ/ds_c = (1 - beta) ps_c (rho_c - KL(ps || M)), rho = log ps - log M.
                double beta = loss.DivBeta, klToMixture = 0;
                for (int c = 0; c < C; c++) klToMixture += XLogRatio(ls[c], LogMixture(beta, lt[c], ls[c]));
                for (int c = 0; c < C; c++)
                    g[c] = (1 - beta) * Math.Exp(ls[c]) * (ls[c] - LogMixture(beta, lt[c], ls[c]) - klToMixture);
                return;
            }
            case LogitDivergence.Dkd:
            {
                if (y < 0) { g.Clear(); return; }
                // Target: alpha (ps_t - pt_t). Others: -alpha (ps_t - pt_t) ps^_c + beta (ps^_c - pt^_c),
                // ps^ = the softmax over the non-target classes.
                double lsNot = LogNonTarget(ls, y), ltNot = LogNonTarget(lt, y);
                double dt = Math.Exp(ls[y]) - Math.Exp(lt[y]);
                for (int c = 0; c < C; c++)
                {
                    if (c == y) { g[c] = loss.DivAlpha * dt; continue; }
                    double psHat = Math.Exp(ls[c] - lsNot), ptHat = Math.Exp(lt[c] - ltNot);
                    g[c] = -loss.DivAlpha * dt * psHat + loss.DivBeta * (psHat - ptHat);
                }
                return;
            }
            default:
                throw new MtkdInputException($"unknown logit divergence {(int)loss.Divergence}");
        }
    }

    /// <summary>The feature loss of one teacher slice; NaN when any element is not finite.</summary>
    public static double Feature(FeatureLoss kind, ReadOnlySpan<double> fs, ReadOnlySpan<double> ft, double cosEps)
    {
        int d = fs.Length;
        double dot = 0, ss = 0, tt = 0, sum = 0;
        for (int j = 0; j < d; j++)
        {
            if (!double.IsFinite(fs[j]) || !double.IsFinite(ft[j])) return double.NaN;
            double e = fs[j] - ft[j];
            dot += fs[j] * ft[j]; ss += fs[j] * fs[j]; tt += ft[j] * ft[j];
            sum += kind == FeatureLoss.SmoothL1 ? Huber(e) : e * e;
        }
        return kind == FeatureLoss.Cosine ? 1 - dot / (Math.Sqrt(ss) * Math.Sqrt(tt) + cosEps) : sum / d;
    }

    /// <summary>g[j] = d feature loss / d fs[j] for one teacher slice.</summary>
    public static void FeatureGradient(FeatureLoss kind, ReadOnlySpan<double> fs, ReadOnlySpan<double> ft, double cosEps, Span<double> g)
    {
        int d = fs.Length;
        if (kind != FeatureLoss.Cosine)
        {
            for (int j = 0; j < d; j++)
            {
                double e = fs[j] - ft[j];
                g[j] = kind == FeatureLoss.Mse ? 2.0 * e / d : Math.Clamp(e, -1.0, 1.0) / d;
            }
            return;
        }
        // d(1 - cos)/dfs = -ft / den + dot |ft| fs / (|fs| den^2), den = |fs||ft| + eps; the second term is 0 at fs = 0.
        double dot = 0, ss = 0, tt = 0;
        for (int j = 0; j < d; j++) { dot += fs[j] * ft[j]; ss += fs[j] * fs[j]; tt += ft[j] * ft[j]; }
        double n = Math.Sqrt(ss), m = Math.Sqrt(tt), den = n * m + cosEps;
        double radial = n > 0 ? dot * m / (n * den * den) : 0.0;
        for (int j = 0; j < d; j++) g[j] = -ft[j] / den + radial * fs[j];
    }

    /// <summary>Huber with threshold 1: e^2 / 2 inside [-1, 1], |e| - 1/2 outside.</summary>
    public static double Huber(double e) => Math.Abs(e) < 1 ? 0.5 * e * e : Math.Abs(e) - 0.5;

    /// <summary>sum_c p_c (lp_c - lq_c) with p = e^lp, every term counted as 0 where p_c is 0.</summary>
    private static double KlTerms(ReadOnlySpan<double> lp, ReadOnlySpan<double> lq)
    {
        double sum = 0;
        for (int c = 0; c < lp.Length; c++) sum += XLogRatio(lp[c], lq[c]);
        return sum;
    }

    /// <summary>e^lp (lp - lq), 0 where e^lp is 0 (so 0 log 0 = 0).</summary>
    private static double XLogRatio(double lp, double lq)
    {
        double p = Math.Exp(lp);
        return p == 0 ? 0.0 : p * (lp - lq);
    }

    /// <summary>log(beta e^lt + (1 - beta) e^ls) without underflow.</summary>
    private static double LogMixture(double beta, double lt, double ls)
    {
        double a = Math.Log(beta) + lt, b = Math.Log(1 - beta) + ls, hi = Math.Max(a, b);
        return hi == double.NegativeInfinity ? hi : hi + Math.Log(1 + Math.Exp(Math.Min(a, b) - hi));
    }

    /// <summary>log(1 - p_y) = log sum_{c != y} e^lp_c, without the cancellation of 1 - p_y.</summary>
    public static double LogNonTarget(ReadOnlySpan<double> lp, int y)
    {
        double hi = double.NegativeInfinity;
        for (int c = 0; c < lp.Length; c++) if (c != y) hi = Math.Max(hi, lp[c]);
        if (!double.IsFinite(hi)) return hi;
        double sum = 0;
        for (int c = 0; c < lp.Length; c++) if (c != y) sum += Math.Exp(lp[c] - hi);
        return hi + Math.Log(sum);
    }
}
