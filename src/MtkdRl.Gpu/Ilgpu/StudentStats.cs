using ILGPU;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>The three per-row student statistics.</summary>
public struct StudentRowResult
{
    public float Lse1, LseT, Ce;
}

/// <summary>lse_s1 = M + log Ss1, lse_st = M/T + log SsT, ce_s = (M - zs[y]) + log Ss1 (0 when y = -1).</summary>
public static class StudentStats
{
    public static StudentRowResult Compute(DistillKernelArgs a, int y, ArrayView<float> zs, LogitRowStats s)
    {
        float logS1 = s.LogS1;
        float logST = s.LogST;
        StudentRowResult r;
        r.Lse1 = s.M + logS1 + s.P;
        r.LseT = s.M / a.Temperature + logST + s.P;
        r.Ce = y >= 0 ? (s.M - zs[y]) + logS1 : 0f;
        return r;
    }

    public static void Write(DistillKernelArgs a, int b, StudentRowResult r)
    {
        a.LseS1[b] = r.Lse1;
        a.LseST[b] = r.LseT;
        a.CeS[b] = r.Ce;
    }
}
