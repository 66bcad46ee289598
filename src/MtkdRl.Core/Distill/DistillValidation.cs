namespace MtkdRl.Core.Distill;

/// <summary>Checks that every backend applies before running a pass, and the diagnosis after one.</summary>
public static class DistillValidation
{
    public static void CheckSizes(DistillInputs x)
    {
        var s = x.Shape;
        Check("student logits zs", x.Zs.Length, (long)s.B * s.C, "[B,C]");
        Check("teacher logits zt", x.Zt.Length, (long)s.K * s.B * s.C, "[K,B,C]");
        Check("student projections fs", x.Fs.Length, (long)s.B * s.F, "[B,F]");
        Check("teacher embeddings ft", x.Ft.Length, (long)s.B * s.F, "[B,F]");
        Check("labels y", x.Y.Length, s.B, "[B]");
        CheckWeights(s, x.Wl, x.Wf);
    }

    public static void CheckWeights(DistillShape s, float[] wl, float[] wf)
    {
        Check("logit weights wl", wl.Length, (long)s.B * s.K, "[B,K]");
        Check("feature weights wf", wf.Length, (long)s.B * s.K, "[B,K]");
    }

    /// <summary>Labels must be -1 (ignored) or a class index.</summary>
    public static void CheckLabels(DistillShape s, ReadOnlySpan<int> y)
    {
        for (int b = 0; b < y.Length; b++)
        {
            if (y[b] < -1 || y[b] >= s.C)
                throw new MtkdInputException($"row {b}: label {y[b]} is outside [0,{s.C}) and is not -1 (ignore)");
        }
    }

    private static void Check(string what, long got, long want, string dims)
    {
        if (got != want)
            throw new MtkdInputException($"{what} has {got} elements but the shape {dims} needs {want}");
    }

    /// <summary>
    /// Finds the first non-finite input and names it precisely. Costs a full read of the inputs, so
    /// callers run it only when a pass produced non-finite statistics (a non-finite input always
    /// propagates into the log-sum-exps, KL, cosine or mse of its row).
    /// </summary>
    public static void ThrowIfNonFinite(DistillInputs x)
    {
        var s = x.Shape;
        for (int b = 0; b < s.B; b++)
        {
            if (!AllFinite(x.Zs.AsSpan(b * s.C, s.C)))
                throw new MtkdInputException($"student logits, row {b}: contains NaN or Inf");
        }
        for (int k = 0; k < s.K; k++)
        {
            for (int b = 0; b < s.B; b++)
            {
                if (!AllFinite(x.Zt.AsSpan((k * s.B + b) * s.C, s.C)))
                    throw new MtkdInputException($"teacher {k}, row {b}: teacher logits contain NaN or Inf");
                int off = b * s.F + s.FeatureOffset[k];
                if (!AllFinite(x.Ft.AsSpan(off, s.D[k])))
                    throw new MtkdInputException($"teacher {k}, row {b}: teacher embedding contains NaN or Inf");
                if (!AllFinite(x.Fs.AsSpan(off, s.D[k])))
                    throw new MtkdInputException($"teacher {k}, row {b}: student projection contains NaN or Inf");
                if (!float.IsFinite(x.Wl[b * s.K + k]) || !float.IsFinite(x.Wf[b * s.K + k]))
                    throw new MtkdInputException($"teacher {k}, row {b}: weight wl or wf is NaN or Inf");
            }
        }
    }

    /// <summary>
    /// After a pass: when any statistic is non-finite, diagnose the inputs and throw a one-line error
    /// naming teacher and row. Values too large for float32 arithmetic are reported as such.
    /// </summary>
    public static void CheckStatsFinite(DistillInputs x, DistillStats st)
    {
        foreach (var (name, data) in st.Named())
        {
            int bad = FirstNonFinite(data);
            if (bad < 0) continue;
            ThrowIfNonFinite(x);
            bool perTeacher = data.Length == x.Shape.B * x.Shape.K && name is not ("ce_s" or "lse_s1" or "lse_st");
            string where = perTeacher ? $"teacher {bad % x.Shape.K}, row {bad / x.Shape.K}" : $"row {bad}";
            throw new MtkdInputException($"{where}: statistic {name} overflowed float32 (inputs too large)");
        }
    }

    public static bool AllFinite(ReadOnlySpan<float> v)
    {
        foreach (var f in v) if (!float.IsFinite(f)) return false;
        return true;
    }

    private static int FirstNonFinite(float[] v)
    {
        for (int i = 0; i < v.Length; i++) if (!float.IsFinite(v[i])) return i;
        return -1;
    }
}
