using ILGPU;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>
/// Pass 1, statistics. One group per row b; the student row is read from global memory once, cached, and
/// reduced by the whole group; then each warp takes teachers k = warp, warp + W, ... and reads each
/// teacher's logit row and feature slice exactly once.
/// <code>
///   student (T = 1 and T): M, Ss1 = sum e^{zs-M}, SsT = sum e^{(zs-M)/T}
///   lse_s1 = M + log Ss1, lse_st = M/T + log SsT, ce_s = (M - zs[y]) + log Ss1 (0 when y = -1)
///   KL needs log ps^T[c] = (zs[c] - M)/T - log SsT, hence the cached row and SsT before the teachers.
/// Each teacher row is read once from memory and swept a second time from cache for KL (TeacherRow).
/// </code>
/// A NaN or ±Inf anywhere in a row adds a NaN through LogitRowStats.P, so lse_s1/lse_st (student) or
/// lse_t (teacher) of exactly that row become NaN; other rows are untouched.
/// </summary>
public static class StatsKernel
{
    /// <summary>Shared-memory slots of C floats: the student row.</summary>
    public const int RowSlots = 1;

    public static void Run<TScratch>(DistillKernelArgs a) where TScratch : struct, IRowScratch
    {
        int b = Grid.IdxX;
        int c = a.C;
        var scratch = default(TScratch);
        var zs = a.Zs.SubView(b * c, c);
        var student = scratch.StudentRow(a.Zs, b, c, 0);
        var s = StudentRow.Stats(zs, student, scratch.CopiesStudentRow, c, a.Log2ET);
        int y = a.Y[b];
        if (Group.IsFirstThread) StudentStats.Write(a, b, StudentStats.Compute(a, y, zs, s));
        StudentRowFrame frame;
        frame.Logits = student;
        frame.Max = s.M;
        frame.LogSumT = s.LogST;
        for (int k = Warp.WarpIdx; k < a.K; k += GroupSync.WarpCount)
            TeacherRow.Stats(a, b, k, y, frame, fused: false, student);
    }
}
