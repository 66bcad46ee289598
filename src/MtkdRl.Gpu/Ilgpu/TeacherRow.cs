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
    public float LseT, Kl, Mse, Wf;
}

/// <summary>
/// The per-teacher half of the stats pass for one (b, k), run by one warp: the logit row and the feature
/// slice are each read once; lane 0 writes the eight [B,K] statistics.
/// <code>
///   lse_t = M/T + log ST               kl   = T Q/ST + T^2 (log SsT - log ST)
///   h_t   = log S1 + E/S1              conf = 1/S1
///   ce_t  = (M - zt[y]) + log S1       hit  = [first argmax = y]        (both 0 when y = -1)
///   cos   = dot/(|fs||ft| + eps)       mse  = |fs - ft|^2 / D_k
/// </code>
/// (sums as in <see cref="LogitRowStats"/> and <see cref="FeatureRowStats"/>; SsT is the student's.)
/// </summary>
public static class TeacherRow
{
    /// <param name="fused">Also write dL/dfs for this slice (needs wf, and the row's 1/B').</param>
    public static TeacherRowResult Stats(DistillKernelArgs a, int b, int k, int y, ArrayView<float> student,
        float studentMax, float logStudentSumT, bool fused)
    {
        int c = a.C;
        float t = a.Temperature, log2ET = a.Log2ET;
        var zt = a.Zt.SubView((k * a.B + b) * c, c);
        TeacherLanePartial lane;
        lane.Logits = RowPhases.TeacherRowPartial(zt, student, studentMax, c, log2ET);

        int i = b * a.K + k;
        int d = a.Widths[k];
        int off = b * a.F + a.Offsets[k];
        float wf = fused ? a.Wf[i] : 0f;
        float gradScale = fused && y >= 0 ? a.InvCountedRows * a.Beta * wf * 2f / d : 0f;
        lane.Features = RowPhases.FeaturePartial(a.Fs.SubView(off, d), a.Ft.SubView(off, d), d, fused, a.Dfs.SubView(off, d), gradScale);
        var total = TeacherLanePartial.WarpAllReduce(lane, log2ET);
        var logits = total.Logits;
        var features = total.Features;

        float logS1 = logits.LogS1;
        float logST = logits.LogST;
        float s1 = 1f + logits.X1;
        TeacherRowResult r;
        r.LseT = logits.M / t + logST + logits.P;
        r.Kl = t * logits.Q / (1f + logits.XT) + t * t * (logStudentSumT - logST);
        r.Mse = features.MeanSquare(d);
        r.Wf = wf;
        if (Warp.IsFirstLane)
        {
            a.LseT[i] = r.LseT;
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
