using MtkdRl.Core.Distill;

namespace MtkdRl.Strategies;

/// <summary>
/// The labels-or-teachers choice that backing off (<c>--back-off</c>) adds to an agent: a row gives the share g to its
/// label and 1 - g to its teachers. The gate asks whether any teacher knows the row's label better than the student
/// already does: the labels' advantage is A = min_k CEt_k - CEs, positive where even the row's best teacher is
/// less sure of the label than the student. (Against the agent's own mixture, sum_k w_k CEt_k / sum_k w_k, a pool of
/// specialists whose mixture starts even looks worse than the student, the gate closes, and with it the reward
/// signal that would have taught the agent to pick the right specialist.) With g = sigmoid(u) an agent takes
/// natural-gradient steps on u: u moves by A itself (the Bernoulli's Fisher information g (1 - g) divided out), at
/// the same speed whether the share is near 0, near 1 or in between.
/// </summary>
internal static class LabelsGate
{
    /// <summary>Largest |logit| a gate step may reach: shares within about 1e-5 of 0 or 1, and a way back either side.</summary>
    public const float LogitBound = 12f;

    /// <summary>
    /// A[r] = min_k CEt[r,k] - CEs[r] for every counted row (0 for rows not counted and non-finite statistics);
    /// returns how many rows have an advantage.
    /// </summary>
    public static int Advantages(DistillStats stats, ReadOnlySpan<int> labels, int b, int k, Span<float> advantage)
    {
        int n = 0;
        for (int r = 0; r < b; r++)
        {
            advantage[r] = 0;
            if (!StrategyChecks.Counted(labels, r)) continue;
            float best = float.PositiveInfinity;
            for (int j = 0; j < k; j++) best = MathF.Min(best, stats.CeT[r * k + j]);
            float a = best - stats.CeS[r];
            if (!float.IsFinite(a)) continue;
            advantage[r] = a;
            n++;
        }
        return n;
    }

    /// <summary>The logistic function, computed without overflow at either end.</summary>
    public static float Sigmoid(float u) => u >= 0 ? 1f / (1f + MathF.Exp(-u)) : MathF.Exp(u) / (1f + MathF.Exp(u));

    /// <summary>A gate logit after a step, kept within +-<see cref="LogitBound"/>.</summary>
    public static float Bounded(float logit) => Math.Clamp(logit, -LogitBound, LogitBound);
}
