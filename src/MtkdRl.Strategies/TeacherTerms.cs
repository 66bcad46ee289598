namespace MtkdRl.Strategies;

/// <summary>
/// The per-row terms that ca-mkd and the MTKD-RL mix share, each a [K] row written into a caller span:
/// confidence c = (1 - softmax_k(CEt)) / (K-1) (rows sum to 1; K = 1 gives 1) and softmax over teachers.
/// </summary>
internal static class TeacherTerms
{
    /// <summary>softmax over the K values of one row, max-shifted so large statistics cannot overflow.</summary>
    public static void Softmax(ReadOnlySpan<float> x, Span<float> p)
    {
        float max = float.NegativeInfinity;
        foreach (var v in x) if (v > max) max = v;
        float sum = 0;
        for (int k = 0; k < x.Length; k++) { p[k] = MathF.Exp(x[k] - max); sum += p[k]; }
        float inv = 1f / sum;
        for (int k = 0; k < x.Length; k++) p[k] *= inv;
    }

    /// <summary>
    /// c[k] = (1 - softmax(ceT)[k]) / (K-1): a teacher that is confidently right (small CEt) gets the most.
    /// With one teacher the formula is 0/0; it gets the whole weight.
    /// </summary>
    public static void Confidence(ReadOnlySpan<float> ceT, Span<float> c)
    {
        int k = ceT.Length;
        if (k == 1) { c[0] = 1f; return; }
        Softmax(ceT, c);
        float inv = 1f / (k - 1);
        for (int j = 0; j < k; j++) c[j] = (1f - c[j]) * inv;
    }
}
