using MtkdRl.Core;
using MtkdRl.Core.Distill;

namespace MtkdRl.Backends.Agreement;

/// <summary>
/// Seeded random batches for checking a backend against the reference: every value fresh and non-zero, some
/// rows ignored (row 0 always counted, unless every row is), teacher weights uneven so a wrong teacher index shows.
/// </summary>
public static class AgreementInputs
{
    /// <summary>Width of the uniform noise that separates teachers from the student in <see cref="LogitStyle.NearlyEqual"/>.</summary>
    public const double NearlyEqualNoise = 1e-3;

    public static DistillInputs Create(DistillShape s, int seed, LogitStyle style = LogitStyle.Normal, double ignoredFraction = 0.15)
    {
        var rng = new Random(seed);
        var x = new DistillInputs(s);
        for (int b = 0; b < s.B; b++)
            x.Y[b] = (b > 0 || ignoredFraction >= 1) && rng.NextDouble() < ignoredFraction ? -1 : rng.Next(s.C);
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
        if (style == LogitStyle.NearlyEqual)
        {
            int block = s.B * s.C;
            for (int k = 0; k < s.K; k++)
                for (int i = 0; i < block; i++)
                    x.Zt[k * block + i] = x.Zs[i] + (float)(NearlyEqualNoise * (rng.NextDouble() - 0.5));
        }
        return x;
    }

    /// <summary>Scalars of the op drawn from the seed: T in [1, 5), a_ce and a_kd in [0.5, 1.5), beta in [1, 5).</summary>
    public static DistillHyper Hyper(int seed)
    {
        var rng = new Random(seed ^ 0x5eed);
        return new DistillHyper(Temperature: (float)(1 + 4 * rng.NextDouble()), ACe: (float)(0.5 + rng.NextDouble()),
            AKd: (float)(0.5 + rng.NextDouble()), Beta: (float)(1 + 4 * rng.NextDouble()));
    }

    /// <summary>
    /// Shapes that break kernels in their own ways: widths differing per teacher, C and D not multiples of a warp.
    /// <paramref name="small"/> for CPU simulators, which take minutes at the full sizes.
    /// </summary>
    public static (DistillShape Ragged, DistillShape Edge) OddShapes(bool small) => small
        ? (new DistillShape(13, 101, [1, 32, 65, 3]), new DistillShape(12, 4, 77, 24))
        : (new DistillShape(67, 1001, [1, 32, 257, 512, 3]), new DistillShape(48, 6, 333, 40));

    private static void FillLogits(float[] z, int c, Random rng, LogitStyle style)
    {
        if (style != LogitStyle.Extreme)
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

    /// <summary>Positive weights summing to 1 over teachers.</summary>
    private static void FillWeights(Span<float> w, Random rng)
    {
        double sum = 0;
        for (int k = 0; k < w.Length; k++) { w[k] = (float)(0.05 + rng.NextDouble()); sum += w[k]; }
        for (int k = 0; k < w.Length; k++) w[k] = (float)(w[k] / sum);
    }
}
