using ILGPU;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>One lane's share of a teacher's logit row and feature slice, reduced over the warp together.</summary>
public struct TeacherLanePartial
{
    public LogitRowStats Logits;
    public FeatureRowStats Features;

    /// <summary>Butterfly over the warp, one struct shuffle per step; every lane ends with the totals.</summary>
    public static TeacherLanePartial WarpAllReduce(TeacherLanePartial mine, float log2ET)
    {
        int lane = Warp.LaneIdx;
        for (int mask = 1; mask < Warp.WarpSize; mask <<= 1)
        {
            var other = Warp.ShuffleXor(mine, mask);
            bool low = (lane & mask) == 0;
            mine.Logits = low ? LogitRowStats.Merge(mine.Logits, other.Logits, log2ET) : LogitRowStats.Merge(other.Logits, mine.Logits, log2ET);
            mine.Features = low ? FeatureRowStats.Sum(mine.Features, other.Features) : FeatureRowStats.Sum(other.Features, mine.Features);
        }
        return mine;
    }
}

/// <summary>What the fused pass needs from one teacher's statistics to go on to the gradient.</summary>
public struct TeacherRowResult
{
    public float Kl, Mse, Wf;
}

/// <summary>The student row's statistics every teacher of the row needs.</summary>
public struct StudentRowFrame
{
    /// <summary>Student logits of the row (cached in shared memory, or in global memory for very large C).</summary>
    public ArrayView<float> Logits;
    /// <summary>Ms and log SsT: log ps^T = (zs - Ms)/T - log SsT.</summary>
    public float Max, LogSumT;
}

/// <summary>
/// The per-teacher half of the stats pass for one (b, k), run by one warp. The logit row and the feature
/// slice are read once from memory; the logit row is swept a second time (from cache) for KL, which needs
/// the row's normaliser first. Lane 0 writes the eight [B,K] statistics:
/// <code>
///   lse_t = M/T + log ST               kl   = T^2 sum_c ps^T f(log pt^T - log ps^T)   (see KlTerm)
///   h_t   = log S1 + E/S1              conf = 1/S1
///   ce_t  = (M - zt[y]) + log S1       hit  = [first argmax = y]        (both 0 when y = -1)
///   cos   = dot/(|fs||ft| + eps)       mse  = |fs - ft|^2 / D_k
/// </code>
/// (sums as in <see cref="LogitRowStats"/> and <see cref="FeatureRowStats"/>.)
/// </summary>
public static class TeacherRow
{
    /// <param name="fused">Also write dL/dfs for this slice and, on counted rows, add wl pt^T into
    /// <paramref name="acc"/> during the KL sweep.</param>
    public static TeacherRowResult Stats(DistillKernelArgs a, int b, int k, int y, StudentRowFrame student,
        bool fused, ArrayView<float> acc)
    {
        int c = a.C;
        float t = a.Temperature, invT = 1f / t, log2ET = a.Log2ET;
        var zt = a.Zt.SubView((k * a.B + b) * c, c);
        TeacherLanePartial lane;
        lane.Logits = TeacherSweeps.Statistics(zt, c, log2ET);

        int i = b * a.K + k;
        int d = a.Widths[k];
        int off = b * a.F + a.Offsets[k];
        float wf = fused ? a.Wf[i] : 0f;
        float gradScale = fused && y >= 0 ? a.InvCountedRows * a.Beta * wf * 2f / d : 0f;
        lane.Features = FeatureSweeps.Statistics(a.Fs.SubView(off, d), a.Ft.SubView(off, d), d, fused, a.Dfs.SubView(off, d), gradScale);
        var total = TeacherLanePartial.WarpAllReduce(lane, log2ET);
        var logits = total.Logits;
        var features = total.Features;

        float logST = logits.LogST;
        KlFrame frame;
        frame.InvT = invT;
        frame.TeacherMax = logits.M;
        frame.TeacherLogS = logST;
        frame.StudentMax = student.Max;
        frame.StudentLogS = student.LogSumT;
        frame.LogRatio = (logits.M - student.Max) * invT + (logST - student.LogSumT);
        bool accumulate = fused && y >= 0;
        float wl = accumulate ? a.Wl[i] : 0f;
        var sums = TeacherSweeps.KlAndAccumulate(zt, student.Logits, c, frame, accumulate, acc, wl);
        float kl = KlTerm.Corrected(GroupSync.WarpSum(sums.F), GroupSync.WarpSum(sums.Q));

        float logS1 = logits.LogS1;
        float s1 = 1f + logits.X1;
        TeacherRowResult r;
        r.Kl = t * t * kl;
        r.Mse = features.MeanSquare(d);
        r.Wf = wf;
        if (Warp.IsFirstLane)
        {
            a.LseT[i] = logits.M / t + logST + logits.P;
            a.Kl[i] = r.Kl;
            a.Ht[i] = logS1 + logits.E / s1;
            a.Conf[i] = 1f / s1;
            a.CeT[i] = y >= 0 ? (logits.M - zt[y]) + logS1 : 0f;
            a.Hit[i] = y >= 0 && logits.Argmax == y ? 1f : 0f;
            a.Cos[i] = features.Cosine(a.CosEps);
            a.Mse[i] = r.Mse;
        }
        return r;
    }
}
