using ILGPU;
using ILGPU.Algorithms;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>
/// The group-wide work on the student row: its softmax statistics before the teachers (read once, cached),
/// and dL/dzs after them.
/// </summary>
public static class StudentRow
{
    /// <summary>
    /// Softmax statistics of the student row, identical in every thread of the group, copying the row into
    /// <paramref name="cache"/> on the way when <paramref name="copy"/> is set. Ends with a group barrier,
    /// so the cache is complete when it returns.
    /// </summary>
    public static LogitRowStats Stats(ArrayView<float> row, ArrayView<float> cache, bool copy, int c, float log2ET)
    {
        var partials = SharedMemory.Allocate<LogitRowStats>(GroupSync.MaxWarpsPerGroup);
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
        for (int w = 1; w < GroupSync.WarpCount; w++) total = LogitRowStats.Merge(total, partials[w], log2ET);
        return total;
    }

    /// <summary>
    /// dL/dzs[c] = invB' [a_ce (ps[c] - [c = y]) + a_kd T (W psT[c] - acc[c])], W = sum_k wl[b,k],
    /// ps = softmax(zs), psT = softmax(zs/T), both from the log-sum-exps. Zero on ignored rows.
    /// </summary>
    public static void Gradient(ArrayView<float> student, ArrayView<float> acc, ArrayView<float> dzs, int c, int y,
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
}
