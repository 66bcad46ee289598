using ILGPU;
using ILGPU.Algorithms;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>
/// A warp's sweeps over one teacher's logit row [C]: lanes take classes lane, lane+32, ... so each warp-wide
/// load is one coalesced 128-byte line, several lines per lane in flight.
/// </summary>
public static class TeacherSweeps
{
    /// <summary>Classes per lane per step of the logit-row sweeps (written out below): loads in flight per lane.</summary>
    public const int Unroll = 4;

    /// <summary>
    /// This lane's share of one teacher's logit row, read once: lanes take classes lane, lane+32, ...;
    /// <see cref="Unroll"/> classes per lane per step (the last step masked), so several loads are in flight
    /// even in the tail, and one rescale per step instead of one per class.
    /// </summary>
    public static LogitRowStats Statistics(ArrayView<float> row, int c, float log2ET)
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
    public static KlSums KlAndAccumulate(ArrayView<float> row, ArrayView<float> student, int c, KlFrame frame,
        bool accumulate, ArrayView<float> acc, float wl)
    {
        KlSums kl;
        kl.F = 0f;
        kl.Q = 0f;
        int ws = Warp.WarpSize;
        for (int i = Warp.LaneIdx; i < c; i += Unroll * ws)
        {
            int i1 = i + ws, i2 = i + 2 * ws, i3 = i + 3 * ws;
            bool v1 = i1 < c, v2 = i2 < c, v3 = i3 < c;
            float z0 = row[i];
            float z1 = v1 ? row[i1] : 0f;
            float z2 = v2 ? row[i2] : 0f;
            float z3 = v3 ? row[i3] : 0f;
            KlStep(ref kl, z0, student[i], frame, accumulate, acc, i, wl);
            if (v1) KlStep(ref kl, z1, student[i1], frame, accumulate, acc, i1, wl);
            if (v2) KlStep(ref kl, z2, student[i2], frame, accumulate, acc, i2, wl);
            if (v3) KlStep(ref kl, z3, student[i3], frame, accumulate, acc, i3, wl);
        }
        return kl;
    }

    private static void KlStep(ref KlSums kl, float z, float zs, KlFrame f, bool accumulate, ArrayView<float> acc, int i, float wl)
    {
        float pt = XMath.Exp2(((z - f.TeacherMax) * f.InvT - f.TeacherLogS) * LogitRowStats.Log2E);
        float ps = XMath.Exp2(((zs - f.StudentMax) * f.InvT - f.StudentLogS) * LogitRowStats.Log2E);
        if (accumulate) AddFinite(acc, i, wl * pt);
        // z - zs first: small when teacher and student agree, which is when KL needs the precision.
        float y = (z - zs) * f.InvT - f.LogRatio;
        kl.F += KlTerm.Of(y, pt, ps);
        kl.Q += KlTerm.Shift(y, pt, ps);
    }

    /// <summary>
    /// acc[c] += wl * pt^T[c] with pt^T[c] = 2^{zt[c] log2(e)/T - lseT log2(e)}. Different warps add into the
    /// same accumulator, hence the (shared-memory) atomics; lanes of one warp never collide.
    /// </summary>
    public static void Accumulate(ArrayView<float> row, ArrayView<float> acc, int c, float wl, float lseT, float log2ET)
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
            AddFinite(acc, i, wl * XMath.Exp2(z0 * log2ET - shift));
            if (v1) AddFinite(acc, i1, wl * XMath.Exp2(z1 * log2ET - shift));
            if (v2) AddFinite(acc, i2, wl * XMath.Exp2(z2 * log2ET - shift));
            if (v3) AddFinite(acc, i3, wl * XMath.Exp2(z3 * log2ET - shift));
        }
    }

    /// <summary>
    /// acc[i] += v, leaving out a non-finite v. Such a v comes only from a non-finite teacher row, whose
    /// gradient the session contract leaves unspecified (lse_t already shows the row as NaN); adding it would
    /// also spin ILGPU's CPU accelerator forever, whose float atomics retry until a compare of the old value
    /// with itself succeeds, which NaN never does.
    /// </summary>
    private static void AddFinite(ArrayView<float> acc, int i, float v)
    {
        if (v - v == 0f) Atomic.Add(ref acc[i], v);
    }
}
