using ILGPU;
using ILGPU.Algorithms;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>
/// The sweeps of the catalog losses other than kl and mse, one thread per row b, after the KL kernels
/// (<see cref="CatalogLossKernels"/> orders them). In the stats pass a sweep overwrites kl with T^2 D (the
/// selected divergence) or mse with the selected feature loss; in the gradient pass, where the KL kernel ran
/// with the replaced term's coefficient at 0, it adds that term to dzs (or writes dfs) and to row_loss:
/// <code>
///   dL/dzs[c]   += invB' a_kd T sum_k wl_k dD_k/ds_c          row_loss += invB' sum_k a_kd wl_k kl_k
///   dL/dfs_k[j]  = invB' beta wf_k d loss_k/dfs_k[j]         row_loss += invB' sum_k beta wf_k mse_k
/// </code>
/// Ignored rows (y = -1) get their statistics and no gradient terms. Arithmetic is in double, as the native sweep's.
/// </summary>
public static class CatalogLossSweeps
{
    public static void Divergence<TDiv>(Index1D index, CatalogLossArgs x) where TDiv : struct, ILogitDivergenceTerm
    {
        var a = x.A;
        int b = index;
        int c = a.C;
        int y = a.Y[b];
        bool grads = x.AddGrads != 0 && y >= 0;
        if (x.WriteStats == 0 && !grads) return;
        var term = default(TDiv);
        double t = a.Temperature, invB = a.InvCountedRows;
        var row = default(DivergenceRow);
        row.Zs = a.Zs.SubView(b * c, c);
        row.C = c;
        row.Y = y;
        row.InvT = 1.0 / t;
        row.Alpha = x.DivAlpha;
        row.Beta = x.DivBeta;
        row.LseS = DivergenceRow.LogSumExp(row.Zs, c, row.InvT);
        var dzs = a.Dzs.SubView(b * c, c);
        double loss = 0.0;
        for (int k = 0; k < a.K; k++)
        {
            int i = b * a.K + k;
            row.Zt = a.Zt.SubView((k * a.B + b) * c, c);
            row.LseT = DivergenceRow.LogSumExp(row.Zt, c, row.InvT);
            if (x.WriteStats != 0) a.Kl[i] = (float)(t * t * term.Value(row));
            if (!grads) continue;
            loss += (double)a.AKd * a.Wl[i] * a.Kl[i];
            row = term.Prepare(row);
            double coef = invB * a.AKd * t * a.Wl[i];
            for (int j = 0; j < c; j++) dzs[j] = (float)(dzs[j] + coef * term.Gradient(row, j));
        }
        if (grads) a.RowLoss[b] = (float)(a.RowLoss[b] + invB * loss);
    }

    /// <summary>
    /// kl's gradient again for the rows where teacher and student nearly agree (a weighted pair's KL / T^2 below
    /// <see cref="PreciseKlGradientScale"/> L^2), after the KL gradient or fused kernel: there its
    /// a_kd T (W psT - sum_k wl_k ptT_k) subtracts float probabilities that agree to a few digits, which leaves
    /// errors of 1e-3 of the difference. The row is written again in double, cross-entropy part and all:
    /// dzs[c] = invB' [ a_ce (ps[c] - [c = y]) + a_kd T sum_k wl_k (psT[c] - ptT_k[c]) ] with every probability from
    /// log-sum-exps in double (native/src/distill_kl_gradient.inl has the float analysis). Other rows return after
    /// reading their K weights and divergences.
    /// </summary>
    public static void PreciseKl(Index1D index, CatalogLossArgs x)
    {
        var a = x.A;
        int b = index;
        int c = a.C;
        int y = a.Y[b];
        if (y < 0) return;
        double t = a.Temperature;
        bool needed = false;
        for (int k = 0; k < a.K; k++)
        {
            int i = b * a.K + k;
            double l = 1.0 + XMath.Abs(a.LseST[b]) + XMath.Abs(a.LseT[i]);
            if (a.Wl[i] != 0f && a.Kl[i] < PreciseKlGradientScale * l * l * t * t) needed = true;
        }
        if (!needed) return;
        var zs = a.Zs.SubView(b * c, c);
        var dzs = a.Dzs.SubView(b * c, c);
        double invT = 1.0 / t, invB = a.InvCountedRows;
        double lse1 = DivergenceRow.LogSumExp(zs, c, 1.0), lseS = DivergenceRow.LogSumExp(zs, c, invT);
        for (int j = 0; j < c; j++)
            dzs[j] = (float)(invB * a.ACe * (XMath.Exp(zs[j] - lse1) - (j == y ? 1.0 : 0.0)));
        for (int k = 0; k < a.K; k++)
        {
            int i = b * a.K + k;
            var zt = a.Zt.SubView((k * a.B + b) * c, c);
            double lseT = DivergenceRow.LogSumExp(zt, c, invT);
            double coef = invB * a.AKd * t * a.Wl[i];
            for (int j = 0; j < c; j++)
                dzs[j] = (float)(dzs[j] + coef * (XMath.Exp(zs[j] * invT - lseS) - XMath.Exp(zt[j] * invT - lseT)));
        }
    }

    /// <summary>
    /// A weighted pair whose KL / T^2 is below this times L^2, L = 1 + |lse_t| + |lse_st|, sends its row to
    /// <see cref="PreciseKl"/> (native: kPreciseKlGradientScale, where the choice is derived).
    /// </summary>
    public const double PreciseKlGradientScale = 1e-4;

    public static void Feature<TFeat>(Index1D index, CatalogLossArgs x) where TFeat : struct, IFeatureLossTerm
    {
        var a = x.A;
        int b = index;
        int y = a.Y[b];
        bool grads = x.AddGrads != 0 && y >= 0;
        if (x.WriteStats == 0 && !grads) return;
        var term = default(TFeat);
        double invB = a.InvCountedRows;
        double loss = 0.0;
        for (int k = 0; k < a.K; k++)
        {
            int i = b * a.K + k;
            int d = a.Widths[k];
            int off = b * a.F + a.Offsets[k];
            var slice = default(FeatureSlice);
            slice.Fs = a.Fs.SubView(off, d);
            slice.Ft = a.Ft.SubView(off, d);
            slice.D = d;
            slice.Eps = a.CosEps;
            slice = term.Prepare(slice);
            if (x.WriteStats != 0) a.Mse[i] = (float)(term.Value(slice) + slice.Probe());
            if (!grads) continue;
            loss += (double)a.Beta * a.Wf[i] * a.Mse[i];
            double coef = invB * a.Beta * a.Wf[i];
            var dfs = a.Dfs.SubView(off, d);
            for (int j = 0; j < d; j++) dfs[j] = (float)(coef * term.Gradient(slice, j));
        }
        if (grads) a.RowLoss[b] = (float)(a.RowLoss[b] + invB * loss);
    }
}
