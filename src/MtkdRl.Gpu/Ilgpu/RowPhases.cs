using ILGPU;
using ILGPU.Algorithms;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>
/// The building blocks the three kernels share. A group owns one row b; "group" helpers are called by
/// every thread of it, "warp" helpers by the 32 lanes of one warp, which owns one teacher at a time.
/// Loads are strided by the warp or group size so consecutive lanes touch consecutive addresses.
/// </summary>
public static class RowPhases
{
    /// <summary>Largest number of warps a group may have (size of the per-warp shared arrays).</summary>
    public const int MaxWarpsPerGroup = 32;

    /// <summary>Warps in this group.</summary>
    public static int WarpCount => Group.DimX / Warp.WarpSize;

    /// <summary>
    /// Softmax statistics of the student row, identical in every thread of the group, copying the row into
    /// <paramref name="cache"/> on the way when <paramref name="copy"/> is set. Ends with a group barrier,
    /// so the cache is complete when it returns.
    /// </summary>
    public static LogitRowStats StudentRowStats(ArrayView<float> row, ArrayView<float> cache, bool copy, int c, float log2ET)
    {
        var partials = SharedMemory.Allocate<LogitRowStats>(MaxWarpsPerGroup);
        var acc = LogitRowStats.Empty;
        for (int i = Group.IdxX; i < c; i += Group.DimX)
        {
            float z = row[i];
            if (copy) cache[i] = z;
            if (z > acc.M) acc.RaiseMax(z, i, log2ET);
            acc.Add(z, i, log2ET);
        }
        acc = LogitRowStats.WarpAllReduce(acc, log2ET);
        if (Warp.IsFirstLane) partials[Warp.WarpIdx] = acc;
        Group.Barrier();
        var total = partials[0];
        for (int w = 1; w < WarpCount; w++) total = LogitRowStats.Merge(total, partials[w], log2ET);
        return total;
    }

    /// <summary>Classes per lane per step of the logit-row sweeps (written out below): loads in flight per lane.</summary>
    public const int Unroll = 4;

    /// <summary>
    /// This lane's share of one teacher's logit row, read once: lanes take classes lane, lane+32, ...;
    /// <see cref="Unroll"/> classes per lane per step (the last step masked), so several loads are in flight
    /// even in the tail, and one rescale per step instead of one per class.
    /// </summary>
    public static LogitRowStats TeacherRowPartial(ArrayView<float> row, int c, float log2ET)
    {
        var acc = LogitRowStats.Empty;
        int ws = Warp.WarpSize;
        for (int i = Warp.LaneIdx; i < c; i += Unroll * ws)
        {
            int i1 = i + ws, i2 = i + 2 * ws, i3 = i + 3 * ws;
            bool v1 = i1 < c, v2 = i2 < c, v3 = i3 < c;
            float z0 = row[i];
            float z1 = v1 ? row[i1] : float.NegativeInfinity;
            float z2 = v2 ? row[i2] : float.NegativeInfinity;
            float z3 = v3 ? row[i3] : float.NegativeInfinity;
            float m = z0;
            int at = i;
            if (z1 > m) { m = z1; at = i1; }
            if (z2 > m) { m = z2; at = i2; }
            if (z3 > m) { m = z3; at = i3; }
            if (m > acc.M) acc.RaiseMax(m, at, log2ET);
            acc.Add(z0, i, log2ET);
            if (v1) acc.Add(z1, i1, log2ET);
            if (v2) acc.Add(z2, i2, log2ET);
            if (v3) acc.Add(z3, i3, log2ET);
        }
        return acc;
    }

    /// <summary>
    /// The second sweep of a teacher row the warp has just read (so it comes from L1/L2, not memory), once
    /// its softmax normaliser is known: this lane's share of KL(pt^T || ps^T) (see <see cref="KlTerm"/>);
    /// with <paramref name="accumulate"/> (fused pass) also acc[c] += wl pt^T[c] for dL/dzs.
    /// </summary>
    public static float TeacherKlPartial(ArrayView<float> row, ArrayView<float> student, int c, KlFrame frame,
        bool accumulate, ArrayView<float> acc, float wl)
    {
        float kl = 0f;
        int ws = Warp.WarpSize;
        for (int i = Warp.LaneIdx; i < c; i += Unroll * ws)
        {
            int i1 = i + ws, i2 = i + 2 * ws, i3 = i + 3 * ws;
            bool v1 = i1 < c, v2 = i2 < c, v3 = i3 < c;
            float z0 = row[i];
            float z1 = v1 ? row[i1] : 0f;
            float z2 = v2 ? row[i2] : 0f;
            float z3 = v3 ? row[i3] : 0f;
            kl += KlStep(z0, student[i], frame, accumulate, acc, i, wl);
            if (v1) kl += KlStep(z1, student[i1], frame, accumulate, acc, i1, wl);
            if (v2) kl += KlStep(z2, student[i2], frame, accumulate, acc, i2, wl);
            if (v3) kl += KlStep(z3, student[i3], frame, accumulate, acc, i3, wl);
        }
        return kl;
    }

    private static float KlStep(float z, float zs, KlFrame f, bool accumulate, ArrayView<float> acc, int i, float wl)
    {
        float pt = XMath.Exp2(((z - f.TeacherMax) * f.InvT - f.TeacherLogS) * LogitRowStats.Log2E);
        float ps = XMath.Exp2(((zs - f.StudentMax) * f.InvT - f.StudentLogS) * LogitRowStats.Log2E);
        if (accumulate) Atomic.Add(ref acc[i], wl * pt);
        // z - zs first: small when teacher and student agree, which is when KL needs the precision.
        float y = (z - zs) * f.InvT - f.LogRatio;
        return KlTerm.Of(y, pt, ps);
    }

    /// <summary>Butterfly sum over the warp: every lane ends with the total (bit-identical in all lanes).</summary>
    public static float WarpSum(float v)
    {
        for (int mask = 1; mask < Warp.WarpSize; mask <<= 1) v += Warp.ShuffleXor(v, mask);
        return v;
    }

    /// <summary>
    /// This lane's share of one teacher's feature slice, read once; with <paramref name="writeGrad"/> (fused
    /// pass) it also writes dL/dfs = gradScale (fs - ft) from the same loads.
    /// </summary>
    public static FeatureRowStats FeaturePartial(ArrayView<float> fs, ArrayView<float> ft, int d, bool writeGrad, ArrayView<float> dfs, float gradScale)
    {
        var acc = default(FeatureRowStats);
        int ws = Warp.WarpSize;
        int j = Warp.LaneIdx;
        for (; j + ws < d; j += 2 * ws)
        {
            float s0 = fs[j], t0 = ft[j], s1 = fs[j + ws], t1 = ft[j + ws];
            acc.Add(s0, t0);
            acc.Add(s1, t1);
            if (writeGrad)
            {
                dfs[j] = gradScale * (s0 - t0);
                dfs[j + ws] = gradScale * (s1 - t1);
            }
        }
        for (; j < d; j += ws)
        {
            float s = fs[j], t = ft[j];
            acc.Add(s, t);
            if (writeGrad) dfs[j] = gradScale * (s - t);
        }
        return acc;
    }

    /// <summary>dL/dfs = gradScale (fs - ft) over one teacher's slice (gradient pass).</summary>
    public static void FeatureGradient(ArrayView<float> fs, ArrayView<float> ft, int d, ArrayView<float> dfs, float gradScale)
    {
        for (int j = Warp.LaneIdx; j < d; j += Warp.WarpSize)
            dfs[j] = gradScale * (fs[j] - ft[j]);
    }

    /// <summary>
    /// acc[c] += wl * pt^T[c] with pt^T[c] = 2^{zt[c] log2(e)/T - lseT log2(e)}. Different warps add into the
    /// same accumulator, hence the (shared-memory) atomics; lanes of one warp never collide.
    /// </summary>
    public static void AccumulateTeacherProbabilities(ArrayView<float> row, ArrayView<float> acc, int c, float wl, float lseT, float log2ET)
    {
        float shift = lseT * LogitRowStats.Log2E;
        int ws = Warp.WarpSize;
        for (int i = Warp.LaneIdx; i < c; i += Unroll * ws)
        {
            int i1 = i + ws, i2 = i + 2 * ws, i3 = i + 3 * ws;
            bool v1 = i1 < c, v2 = i2 < c, v3 = i3 < c;
            float z0 = row[i];
            float z1 = v1 ? row[i1] : 0f;
            float z2 = v2 ? row[i2] : 0f;
            float z3 = v3 ? row[i3] : 0f;
            Atomic.Add(ref acc[i], wl * XMath.Exp2(z0 * log2ET - shift));
            if (v1) Atomic.Add(ref acc[i1], wl * XMath.Exp2(z1 * log2ET - shift));
            if (v2) Atomic.Add(ref acc[i2], wl * XMath.Exp2(z2 * log2ET - shift));
            if (v3) Atomic.Add(ref acc[i3], wl * XMath.Exp2(z3 * log2ET - shift));
        }
    }

    /// <summary>Zeroes a warp-owned slice.</summary>
    public static void WarpClear(ArrayView<float> slice, int n)
    {
        for (int i = Warp.LaneIdx; i < n; i += Warp.WarpSize) slice[i] = 0f;
    }

    /// <summary>Zeroes a group-owned row (the caller places the barrier).</summary>
    public static void Clear(ArrayView<float> row, int c)
    {
        for (int i = Group.IdxX; i < c; i += Group.DimX) row[i] = 0f;
    }

    /// <summary>
    /// dL/dzs[c] = invB' [a_ce (ps[c] - [c = y]) + a_kd T (W psT[c] - acc[c])], W = sum_k wl[b,k],
    /// ps = softmax(zs), psT = softmax(zs/T), both from the log-sum-exps. Zero on ignored rows.
    /// </summary>
    public static void StudentGradient(ArrayView<float> student, ArrayView<float> acc, ArrayView<float> dzs, int c, int y,
        float lse1, float lseT, float weightSum, float ceScale, float kdScale, float invT)
    {
        for (int i = Group.IdxX; i < c; i += Group.DimX)
        {
            if (y < 0) { dzs[i] = 0f; continue; }
            float z = student[i];
            // Subtract before scaling: z - lse is exact near the maximum, where the probabilities are large.
            float p1 = XMath.Exp2((z - lse1) * LogitRowStats.Log2E);
            float pT = XMath.Exp2((z * invT - lseT) * LogitRowStats.Log2E);
            float onehot = i == y ? 1f : 0f;
            dzs[i] = ceScale * (p1 - onehot) + kdScale * (weightSum * pT - acc[i]);
        }
    }

    /// <summary>Sum of the per-warp partials in shared memory, in warp order (identical in every thread).</summary>
    public static float SumPartials(ArrayView<float> partials)
    {
        float s = 0f;
        for (int w = 0; w < WarpCount; w++) s += partials[w];
        return s;
    }
}
