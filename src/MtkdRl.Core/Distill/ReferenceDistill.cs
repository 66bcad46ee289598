namespace MtkdRl.Core.Distill;

/// <summary>
/// The float64 oracle for the fused distillation op: every backend and every kernel is checked against
/// it, and its own gradients are checked by finite differences. Written for clarity, not speed: one row
/// at a time, each formula as docs/DESIGN.md §2 states it, every sum in double.
/// </summary>
public static class ReferenceDistill
{
    /// <summary>Statistics in float64, same layout as <see cref="DistillStats"/>.</summary>
    public sealed class Stats64
    {
        public double[] Kl = [], CeT = [], Ht = [], Conf = [], Hit = [], Cos = [], Mse = [], LseT = [];
        public double[] CeS = [], LseS1 = [], LseST = [];
    }

    /// <summary>Gradients in float64, same layout as <see cref="DistillGrads"/>.</summary>
    public sealed class Grads64
    {
        public double[] Dzs = [], Dfs = [], RowLoss = [];
        public double Loss => RowLoss.Sum();
    }

    /// <summary>Inputs in float64 (what finite-difference checks perturb).</summary>
    public sealed record Inputs64(DistillShape Shape, double[] Zs, double[] Zt, double[] Fs, double[] Ft, int[] Y, double[] Wl, double[] Wf)
    {
        public static Inputs64 From(DistillInputs x) =>
            new(x.Shape, ToDouble(x.Zs), ToDouble(x.Zt), ToDouble(x.Fs), ToDouble(x.Ft), (int[])x.Y.Clone(), ToDouble(x.Wl), ToDouble(x.Wf));

        public double InverseCountedRows()
        {
            int n = Y.Count(v => v >= 0);
            return n == 0 ? 0.0 : 1.0 / n;
        }
    }

    public static Stats64 ComputeStats(Inputs64 x, DistillHyper h)
    {
        var s = x.Shape;
        int B = s.B, K = s.K, C = s.C;
        double T = h.Temperature;
        var r = new Stats64
        {
            Kl = new double[B * K], CeT = new double[B * K], Ht = new double[B * K], Conf = new double[B * K],
            Hit = new double[B * K], Cos = new double[B * K], Mse = new double[B * K], LseT = new double[B * K],
            CeS = new double[B], LseS1 = new double[B], LseST = new double[B],
        };
        for (int b = 0; b < B; b++)
        {
            var zs = x.Zs.AsSpan(b * C, C);
            int y = x.Y[b];
            r.LseS1[b] = LogSumExp(zs, 1.0);
            r.LseST[b] = LogSumExp(zs, T);
            r.CeS[b] = y >= 0 ? r.LseS1[b] - zs[y] : 0.0;

            for (int k = 0; k < K; k++)
            {
                int i = b * K + k;
                var zt = x.Zt.AsSpan((k * B + b) * C, C);

                // Logit KD at temperature T: T^2 * sum_c pt (log pt - log ps).
                double lseT = LogSumExp(zt, T);
                double kl = 0;
                for (int c = 0; c < C; c++)
                {
                    double logPt = zt[c] / T - lseT;
                    double logPs = zs[c] / T - r.LseST[b];
                    kl += Math.Exp(logPt) * (logPt - logPs);
                }
                r.LseT[i] = lseT;
                r.Kl[i] = T * T * kl;
                if (h.Loss.Divergence != LogitDivergence.Kl)
                    r.Kl[i] = T * T * ReferenceLosses.Divergence(h.Loss, LogProbs(zs, T, r.LseST[b]), LogProbs(zt, T, lseT), y);

                // Teacher competence at T = 1.
                double lse1 = LogSumExp(zt, 1.0);
                double entropy = 0, best = double.NegativeInfinity;
                int argmax = 0;
                for (int c = 0; c < C; c++)
                {
                    double logP = zt[c] - lse1;
                    entropy -= Math.Exp(logP) * logP;
                    if (zt[c] > best) { best = zt[c]; argmax = c; }
                }
                r.Ht[i] = entropy;
                r.Conf[i] = Math.Exp(best - lse1);
                r.CeT[i] = y >= 0 ? lse1 - zt[y] : 0.0;
                r.Hit[i] = y >= 0 && argmax == y ? 1.0 : 0.0;

                // Feature agreement.
                int d = s.D[k];
                var fs = x.Fs.AsSpan(b * s.F + s.FeatureOffset[k], d);
                var ft = x.Ft.AsSpan(b * s.F + s.FeatureOffset[k], d);
                double dot = 0, ss = 0, tt = 0, sq = 0;
                for (int j = 0; j < d; j++)
                {
                    dot += fs[j] * ft[j];
                    ss += fs[j] * fs[j];
                    tt += ft[j] * ft[j];
                    sq += (fs[j] - ft[j]) * (fs[j] - ft[j]);
                }
                bool finite = AllFinite(fs) && AllFinite(ft);
                // A teacher without features (d = 0): cos = mse = 0, whatever the feature loss.
                r.Cos[i] = !finite ? double.NaN : d == 0 ? 0.0 : dot / (Math.Sqrt(ss) * Math.Sqrt(tt) + h.CosEps);
                r.Mse[i] = !finite ? double.NaN : d == 0 ? 0.0 : sq / d;
                if (h.Loss.Feature != FeatureLoss.Mse && d > 0) r.Mse[i] = ReferenceLosses.Feature(h.Loss.Feature, fs, ft, h.CosEps);
            }
        }
        return r;
    }

    public static Grads64 ComputeGrads(Inputs64 x, Stats64 st, DistillHyper h)
    {
        var s = x.Shape;
        int B = s.B, K = s.K, C = s.C;
        double T = h.Temperature, invBp = x.InverseCountedRows();
        var g = new Grads64 { Dzs = new double[B * C], Dfs = new double[B * s.F], RowLoss = new double[B] };
        for (int b = 0; b < B; b++)
        {
            int y = x.Y[b];
            if (y < 0) continue; // ignored rows contribute nothing
            var zs = x.Zs.AsSpan(b * C, C);
            var dzs = g.Dzs.AsSpan(b * C, C);
            double loss = h.ACe * st.CeS[b];
            for (int c = 0; c < C; c++)
            {
                double p = Math.Exp(zs[c] - st.LseS1[b]);
                dzs[c] = h.ACe * (p - (c == y ? 1.0 : 0.0));
            }
            for (int k = 0; k < K; k++)
            {
                int i = b * K + k;
                double wl = x.Wl[i], wf = x.Wf[i];
                loss += h.AKd * wl * st.Kl[i] + h.Beta * wf * st.Mse[i];
                var zt = x.Zt.AsSpan((k * B + b) * C, C);
                if (h.Loss.Divergence == LogitDivergence.Kl)
                {
                    for (int c = 0; c < C; c++)
                    {
                        double psT = Math.Exp(zs[c] / T - st.LseST[b]);
                        double ptT = Math.Exp(zt[c] / T - st.LseT[i]);
                        dzs[c] += h.AKd * T * wl * (psT - ptT);
                    }
                }
                else
                {
                    // d(T^2 D)/dzs = T dD/ds with s = zs / T (docs/DESIGN.md §7).
                    var dd = new double[C];
                    ReferenceLosses.DivergenceGradient(h.Loss, LogProbs(zs, T, st.LseST[b]), LogProbs(zt, T, st.LseT[i]), y, dd);
                    for (int c = 0; c < C; c++) dzs[c] += h.AKd * T * wl * dd[c];
                }
                int d = s.D[k], off = b * s.F + s.FeatureOffset[k];
                if (h.Loss.Feature == FeatureLoss.Mse)
                {
                    for (int j = 0; j < d; j++)
                        g.Dfs[off + j] = invBp * h.Beta * wf * (2.0 / d) * (x.Fs[off + j] - x.Ft[off + j]);
                }
                else
                {
                    var df = g.Dfs.AsSpan(off, d);
                    ReferenceLosses.FeatureGradient(h.Loss.Feature, x.Fs.AsSpan(off, d), x.Ft.AsSpan(off, d), h.CosEps, df);
                    for (int j = 0; j < d; j++) df[j] *= invBp * h.Beta * wf;
                }
            }
            for (int c = 0; c < C; c++) dzs[c] *= invBp;
            g.RowLoss[b] = invBp * loss;
        }
        return g;
    }

    /// <summary>The scalar loss L as a function of every input (for finite differences).</summary>
    public static double Loss(Inputs64 x, DistillHyper h) => ComputeGrads(x, ComputeStats(x, h), h).Loss;

    /// <summary>
    /// log sum_c exp(z_c / t), shifted by the maximum so it cannot overflow. NaN when any z is not finite:
    /// that is the contract every backend keeps, so a bad input row always shows in lse_t / lse_s1.
    /// </summary>
    public static double LogSumExp(ReadOnlySpan<double> z, double t)
    {
        foreach (var v in z) if (!double.IsFinite(v)) return double.NaN;
        double m = double.NegativeInfinity;
        foreach (var v in z) m = Math.Max(m, v);
        double sum = 0;
        foreach (var v in z) sum += Math.Exp((v - m) / t);
        return m / t + Math.Log(sum);
    }

    /// <summary>log softmax(z / t) given lse = log sum e^(z/t).</summary>
    private static double[] LogProbs(ReadOnlySpan<double> z, double t, double lse)
    {
        var l = new double[z.Length];
        for (int c = 0; c < z.Length; c++) l[c] = z[c] / t - lse;
        return l;
    }

    private static bool AllFinite(ReadOnlySpan<double> v)
    {
        foreach (var x in v) if (!double.IsFinite(x)) return false;
        return true;
    }

    public static double[] ToDouble(float[] a)
    {
        var r = new double[a.Length];
        for (int i = 0; i < a.Length; i++) r[i] = a[i];
        return r;
    }

    public static void CopyTo(Stats64 src, DistillStats dst)
    {
        Narrow(src.Kl, dst.Kl); Narrow(src.CeT, dst.CeT); Narrow(src.Ht, dst.Ht); Narrow(src.Conf, dst.Conf);
        Narrow(src.Hit, dst.Hit); Narrow(src.Cos, dst.Cos); Narrow(src.Mse, dst.Mse); Narrow(src.LseT, dst.LseT);
        Narrow(src.CeS, dst.CeS); Narrow(src.LseS1, dst.LseS1); Narrow(src.LseST, dst.LseST);
    }

    public static void CopyTo(Grads64 src, DistillGrads dst)
    {
        Narrow(src.Dzs, dst.Dzs); Narrow(src.Dfs, dst.Dfs); Narrow(src.RowLoss, dst.RowLoss);
    }

    /// <summary>The float64 statistics by name, in the order of <see cref="DistillStats.Named"/>.</summary>
    public static IEnumerable<(string Name, double[] Data)> Named(Stats64 s)
    {
        yield return ("kl", s.Kl); yield return ("ce_t", s.CeT); yield return ("h_t", s.Ht);
        yield return ("conf", s.Conf); yield return ("hit", s.Hit); yield return ("cos", s.Cos);
        yield return ("mse", s.Mse); yield return ("lse_t", s.LseT); yield return ("ce_s", s.CeS);
        yield return ("lse_s1", s.LseS1); yield return ("lse_st", s.LseST);
    }

    public static IEnumerable<(string Name, double[] Data)> Named(Grads64 g)
    {
        yield return ("dzs", g.Dzs); yield return ("dfs", g.Dfs); yield return ("row_loss", g.RowLoss);
    }

    private static void Narrow(double[] src, float[] dst)
    {
        for (int i = 0; i < src.Length; i++) dst[i] = (float)src[i];
    }
}
