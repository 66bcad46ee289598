using ILGPU;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>A warp's sweeps over one teacher's feature slice fs, ft [D_k] (contiguous in each row of [B,F]).</summary>
public static class FeatureSweeps
{
    /// <summary>
    /// This lane's share of one teacher's feature slice, read once; with <paramref name="writeGrad"/> (fused
    /// pass) it also writes dL/dfs = gradScale (fs - ft) from the same loads.
    /// </summary>
    public static FeatureRowStats Statistics(ArrayView<float> fs, ArrayView<float> ft, int d, bool writeGrad, ArrayView<float> dfs, float gradScale)
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
    public static void Gradient(ArrayView<float> fs, ArrayView<float> ft, int d, ArrayView<float> dfs, float gradScale)
    {
        for (int j = Warp.LaneIdx; j < d; j += Warp.WarpSize)
            dfs[j] = gradScale * (fs[j] - ft[j]);
    }
}
