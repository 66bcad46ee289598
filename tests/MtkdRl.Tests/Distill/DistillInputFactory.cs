using MtkdRl.Core;
using MtkdRl.Core.Distill;

namespace MtkdRl.Tests.Distill;

/// <summary>How the logits of a generated batch look.</summary>
public enum LogitStyle
{
    /// <summary>Gaussian logits, scale 3: ordinary soft predictions.</summary>
    Normal,
    /// <summary>Logits of ±80 with one winning class per row: near one-hot teachers and student, where exp overflows without a max shift.</summary>
    Extreme,
}

/// <summary>Random batches for agreement tests: every value fresh and non-zero, some rows ignored.</summary>
public static class DistillInputFactory
{
    public static DistillInputs Create(DistillShape s, int seed, LogitStyle style = LogitStyle.Normal, double ignoredFraction = 0.15)
    {
        var rng = new Random(seed);
        var x = new DistillInputs(s);
        for (int b = 0; b < s.B; b++)
        {
            // Row 0 is always counted so B' >= 1 unless the test asks for everything ignored.
            x.Y[b] = (b > 0 || ignoredFraction >= 1) && rng.NextDouble() < ignoredFraction ? -1 : rng.Next(s.C);
        }
        FillLogits(x.Zs, s.C, rng, style);
        FillLogits(x.Zt, s.C, rng, style);
        for (int i = 0; i < x.Fs.Length; i++)
        {
            x.Ft[i] = (float)rng.NextGaussian();
            // Correlated with the teacher so cosines spread over (-1, 1) rather than clustering at 0.
            x.Fs[i] = (float)(0.6 * x.Ft[i] + 0.8 * rng.NextGaussian());
        }
        for (int b = 0; b < s.B; b++)
        {
            FillWeights(x.Wl.AsSpan(b * s.K, s.K), rng);
            FillWeights(x.Wf.AsSpan(b * s.K, s.K), rng);
        }
        return x;
    }

    private static void FillLogits(float[] z, int c, Random rng, LogitStyle style)
    {
        if (style == LogitStyle.Normal)
        {
            for (int i = 0; i < z.Length; i++) z[i] = (float)(3.0 * rng.NextGaussian());
            return;
        }
        for (int row = 0; row < z.Length / c; row++)
        {
            int winner = rng.Next(c);
            for (int j = 0; j < c; j++)
                z[row * c + j] = j == winner ? 80f - (float)rng.NextDouble() : -80f + (float)rng.NextDouble();
        }
    }

    /// <summary>Positive weights summing to 1 over teachers, uneven so a wrong teacher index shows.</summary>
    private static void FillWeights(Span<float> w, Random rng)
    {
        double sum = 0;
        for (int k = 0; k < w.Length; k++) { w[k] = (float)(0.05 + rng.NextDouble()); sum += w[k]; }
        for (int k = 0; k < w.Length; k++) w[k] = (float)(w[k] / sum);
    }
}
