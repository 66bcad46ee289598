using ILGPU;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>
/// Both passes in one sweep, for weights known in advance. One group per row b:
/// <code>
///   1. the student row: cached in shared memory, M, Ss1, SsT (as in the stats pass); acc cleared;
///   2. each warp, per teacher k: the statistics of the stats pass (row and slice read once from memory),
///      dL/dfs_k from the same feature loads, and acc[c] += wl_k ptT_k[c] in the KL sweep (the second
///      sweep of the row it has just read, served by L1/L2, not memory);
///   3. dL/dzs and row_loss exactly as in the gradient pass (see GradientKernel).
/// </code>
/// Ignored rows still get every statistic; their gradients and row_loss are zero.
/// </summary>
public static class FusedKernel
{
    /// <summary>Shared-memory slots of C floats: the student row and the accumulator.</summary>
    public const int RowSlots = 2;

    public static void Run<TScratch>(DistillKernelArgs a) where TScratch : struct, IRowScratch
    {
        var lossPartials = SharedMemory.Allocate<float>(GroupSync.MaxWarpsPerGroup);
        var weightPartials = SharedMemory.Allocate<float>(GroupSync.MaxWarpsPerGroup);
        int b = Grid.IdxX;
        int c = a.C;
        int y = a.Y[b];
        var scratch = default(TScratch);
        var zs = a.Zs.SubView(b * c, c);
        var student = scratch.StudentRow(a.Zs, b, c, 0);
        var acc = scratch.Accumulator(a.Dzs, b, c, 1);
        GroupSync.Clear(acc, c);
        float log2ET = a.Log2ET;
        var s = StudentRow.Stats(zs, student, scratch.CopiesStudentRow, c, log2ET);
        var own = StudentStats.Compute(a, y, zs, s);
        if (Group.IsFirstThread) StudentStats.Write(a, b, own);
        StudentRowFrame frame;
        frame.Logits = student;
        frame.Max = s.M;
        frame.LogSumT = s.LogST;

        float loss = 0f, weightSum = 0f;
        for (int k = Warp.WarpIdx; k < a.K; k += GroupSync.WarpCount)
        {
            var r = TeacherRow.Stats(a, b, k, y, frame, fused: true, acc);
            if (y >= 0)
            {
                float wl = a.Wl[b * a.K + k];
                loss += a.AKd * wl * r.Kl + a.Beta * r.Wf * r.Mse;
                weightSum += wl;
            }
        }
        if (Warp.IsFirstLane)
        {
            lossPartials[Warp.WarpIdx] = loss;
            weightPartials[Warp.WarpIdx] = weightSum;
        }
        Group.Barrier();

        float invB = a.InvCountedRows;
        StudentRow.Gradient(student, acc, a.Dzs.SubView(b * c, c), c, y, own.Lse1, own.LseT,
            GroupSync.SumPartials(weightPartials), invB * a.ACe, invB * a.AKd * a.Temperature, 1f / a.Temperature);
        if (Group.IsFirstThread)
            a.RowLoss[b] = y >= 0 ? invB * (a.ACe * own.Ce + GroupSync.SumPartials(lossPartials)) : 0f;
    }
}
