using MtkdRl.Core.Distill;

namespace MtkdRl.Strategies;

/// <summary>
/// The MTKD-RL reward of a row, from the same forward pass as its weights:
/// r[b] = -(CEs[b] + sum_k wl[b,k] KL[b,k] + beta sum_k wf[b,k] mse[b,k]), then z-scored over the batch's
/// counted rows (unbiased standard deviation, as torch.std) and, for the paper agent, clamped to [0, 1]:
/// only rows better than the batch average reinforce their weights. Ignored rows get 0.
/// </summary>
internal static class PaperReward
{
    /// <summary>Writes the z-scored rewards of the first B rows into <paramref name="reward"/>.</summary>
    public static void Compute(DistillStats stats, ReadOnlySpan<int> labels, ReadOnlySpan<float> wl, ReadOnlySpan<float> wf,
        float beta, bool clamp, Span<float> reward)
    {
        int b = stats.Shape.B, k = stats.Shape.K;
        double sum = 0;
        int n = 0;
        for (int r = 0; r < b; r++)
        {
            if (!StrategyChecks.Counted(labels, r)) { reward[r] = 0; continue; }
            double loss = stats.CeS[r];
            for (int j = 0; j < k; j++)
                loss += wl[r * k + j] * (double)stats.Kl[r * k + j] + beta * wf[r * k + j] * (double)stats.Mse[r * k + j];
            reward[r] = (float)-loss;
            sum += -loss;
            n++;
        }
        Standardise(reward[..b], labels, n, sum / Math.Max(n, 1), clamp);
    }

    /// <summary>(r - mean) / std over counted rows; fewer than two rows or no spread gives 0 (torch would give NaN).</summary>
    internal static void Standardise(Span<float> reward, ReadOnlySpan<int> labels, int n, double mean, bool clamp)
    {
        double ss = 0;
        for (int r = 0; r < reward.Length; r++)
            if (StrategyChecks.Counted(labels, r)) ss += (reward[r] - mean) * (reward[r] - mean);
        double std = n > 1 ? Math.Sqrt(ss / (n - 1)) : 0;
        for (int r = 0; r < reward.Length; r++)
        {
            if (!StrategyChecks.Counted(labels, r) || !(std > 0)) { reward[r] = 0; continue; }
            float z = (float)((reward[r] - mean) / std);
            reward[r] = clamp ? Math.Clamp(z, 0f, 1f) : z;
        }
    }
}
