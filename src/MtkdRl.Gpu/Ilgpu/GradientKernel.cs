using ILGPU;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>
/// Pass 2, gradients, from the weights and pass 1's statistics. One group per row b; warps over teachers.
/// <code>
///   dL/dzs[c]   = invB' [ a_ce (ps[c] - [c = y]) + a_kd T sum_k wl_k (psT[c] - ptT_k[c]) ]
///               = invB' [ a_ce (ps[c] - [c = y]) + a_kd T (W psT[c] - acc[c]) ],   W = sum_k wl_k,
///   acc[c]      = sum_k wl_k ptT_k[c],   ptT_k[c] = e^{zt_k[c]/T - lse_t[b,k]}   (no max/sum sweep needed)
///   dL/dfs_k[j] = invB' beta wf_k (2/D_k) (fs_k[j] - ft_k[j])
///   row_loss    = invB' [ a_ce ce_s + sum_k (a_kd wl_k kl_k + beta wf_k mse_k) ]
/// </code>
/// Each teacher row and feature slice is read once; acc lives in shared memory (atomics between warps).
/// Ignored rows (y = -1) write zeros and read no teacher data.
/// </summary>
public static class GradientKernel
{
    /// <summary>Shared-memory slots of C floats: the accumulator.</summary>
    public const int RowSlots = 1;

    public static void Run<TScratch>(DistillKernelArgs a) where TScratch : struct, IRowScratch
    {
        var lossPartials = SharedMemory.Allocate<float>(GroupSync.MaxWarpsPerGroup);
        var weightPartials = SharedMemory.Allocate<float>(GroupSync.MaxWarpsPerGroup);
        int b = Grid.IdxX;
        int c = a.C;
        int y = a.Y[b];
        var acc = default(TScratch).Accumulator(a.Dzs, b, c, 0);
        GroupSync.Clear(acc, c);
        Group.Barrier();

        float loss = 0f, weightSum = 0f;
        if (y >= 0)
        {
            float log2ET = a.Log2ET;
            for (int k = Warp.WarpIdx; k < a.K; k += GroupSync.WarpCount)
            {
                int i = b * a.K + k;
                float wl = a.Wl[i], wf = a.Wf[i];
                TeacherSweeps.Accumulate(a.Zt.SubView((k * a.B + b) * c, c), acc, c, wl, a.LseT[i], log2ET);
                int d = a.Widths[k];
                int off = b * a.F + a.Offsets[k];
                FeatureSweeps.Gradient(a.Fs.SubView(off, d), a.Ft.SubView(off, d), d, a.Dfs.SubView(off, d),
                    a.InvCountedRows * a.Beta * wf * 2f / d);
                loss += a.AKd * wl * a.Kl[i] + a.Beta * wf * a.Mse[i];
                weightSum += wl;
            }
        }
        else
        {
            for (int k = Warp.WarpIdx; k < a.K; k += GroupSync.WarpCount)
            {
                int off = b * a.F + a.Offsets[k];
                GroupSync.WarpClear(a.Dfs.SubView(off, a.Widths[k]), a.Widths[k]);
            }
        }
        if (Warp.IsFirstLane)
        {
            lossPartials[Warp.WarpIdx] = loss;
            weightPartials[Warp.WarpIdx] = weightSum;
        }
        Group.Barrier();

        float invB = a.InvCountedRows;
        StudentRow.Gradient(a.Zs.SubView(b * c, c), acc, a.Dzs.SubView(b * c, c), c, y, a.LseS1[b], a.LseST[b],
            GroupSync.SumPartials(weightPartials), invB * a.ACe, invB * a.AKd * a.Temperature, 1f / a.Temperature);
        if (Group.IsFirstThread)
            a.RowLoss[b] = y >= 0 ? invB * (a.ACe * a.CeS[b] + GroupSync.SumPartials(lossPartials)) : 0f;
    }
}
