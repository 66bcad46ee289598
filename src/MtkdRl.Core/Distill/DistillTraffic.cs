namespace MtkdRl.Core.Distill;

/// <summary>The three passes of the fused op.</summary>
public enum DistillPass { Stats, Gradient, Fused }

/// <summary>
/// The minimum bytes a pass must move between memory and the cores (docs/DESIGN.md §2): each input it needs
/// read once, each output written once. Benchmarks divide this by the time to get an effective GB/s;
/// the floor is what a perfect kernel would move, so GB/s above the copy bandwidth means caches helped.
/// </summary>
public static class DistillTraffic
{
    /// <summary>Per-teacher statistics written by pass 1: kl, ce_t, h_t, conf, hit, cos, mse, lse_t.</summary>
    public const int TeacherStatCount = 8;
    /// <summary>Per-row student statistics written by pass 1: ce_s, lse_s1, lse_st.</summary>
    public const int StudentStatCount = 3;
    /// <summary>Per-teacher statistics pass 2 reads back: lse_t, kl, mse.</summary>
    public const int TeacherStatsReadByGradient = 3;

    public static long MinimumBytes(DistillShape s, DistillPass pass)
    {
        long b = s.B, k = s.K, c = s.C, f = s.F;
        long logits = 4 * (b * c + k * b * c);      // zs + zt
        long features = 4 * 2 * b * f;              // fs + ft
        long labels = 4 * b;
        long weights = 4 * 2 * b * k;               // wl + wf
        long statsOut = 4 * (TeacherStatCount * b * k + StudentStatCount * b);
        long statsIn = 4 * (TeacherStatsReadByGradient * b * k + StudentStatCount * b);
        long gradsOut = 4 * (b * c + b * f + b);     // dzs + dfs + row loss
        return pass switch
        {
            DistillPass.Stats => logits + features + labels + statsOut,
            DistillPass.Gradient => logits + features + labels + weights + statsIn + gradsOut,
            DistillPass.Fused => logits + features + labels + weights + statsOut + gradsOut,
            _ => throw new ArgumentOutOfRangeException(nameof(pass)),
        };
    }
}
