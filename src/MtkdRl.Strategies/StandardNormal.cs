using MtkdRl.Core;

namespace MtkdRl.Strategies;

/// <summary>
/// Standard normal draws in float by Marsaglia's polar method: (u, v) uniform in the unit disc (the square's
/// corners rejected, about 21 % of tries), s = u^2 + v^2, then u sqrt(-2 ln s / s) and v sqrt(-2 ln s / s) are two
/// independent N(0, 1). One logarithm and one square root per pair and no trigonometry, where Box-Muller cost as
/// much as the PPO policy's forward.
/// </summary>
internal static class StandardNormal
{
    /// <summary>Fills <paramref name="z"/> with independent N(0, 1) values, two per accepted pair (the last pair's
    /// second value is dropped for an odd length).</summary>
    public static void Fill(Rng rng, Span<float> z)
    {
        for (int i = 0; i < z.Length; i += 2)
        {
            float u, v, s;
            do
            {
                u = 2f * rng.NextSingle() - 1f;
                v = 2f * rng.NextSingle() - 1f;
                s = u * u + v * v;
            } while (s >= 1f || s == 0f);
            float scale = MathF.Sqrt(-2f * MathF.Log(s) / s);
            z[i] = u * scale;
            if (i + 1 < z.Length) z[i + 1] = v * scale;
        }
    }
}
