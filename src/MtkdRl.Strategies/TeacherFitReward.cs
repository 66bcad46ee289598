namespace MtkdRl.Strategies;

/// <summary>
/// How well the weighted teachers know each row's label: -sum_k wl[b,k] CEt[b,k], z-scored over the batch's
/// counted rows like the paper's reward (not clamped). Ignored rows get 0. With the labels slot the weights sum
/// to 1 - w_labels and the slot costs the student's own CEs[b]: -(sum_k wl CEt + w_labels CEs), so leaning on the
/// labels pays exactly where no teacher knows the row's label better than the student already does.
/// </summary>
internal sealed class TeacherFitReward(bool labelsSlot = false) : IPpoReward
{
    public bool NeedsProbeLoss => false;

    public void Compute(in LearnFeedback feedback, ReadOnlySpan<float> wl, ReadOnlySpan<float> wf, ReadOnlySpan<int> keptRows, Span<float> reward)
    {
        var stats = feedback.Stats;
        var labels = feedback.Labels;
        int b = stats.Shape.B, k = stats.Shape.K;
        double sum = 0;
        int n = 0;
        for (int r = 0; r < b; r++)
        {
            if (!StrategyChecks.Counted(labels, r)) { reward[r] = 0; continue; }
            double fit = 0;
            double teachers = 0;
            for (int j = 0; j < k; j++)
            {
                fit -= wl[r * k + j] * (double)stats.CeT[r * k + j];
                teachers += wl[r * k + j];
            }
            if (labelsSlot) fit -= Math.Max(0, 1 - teachers) * (double)stats.CeS[r];
            reward[r] = (float)fit;
            sum += fit;
            n++;
        }
        PaperReward.Standardise(reward[..b], labels, n, sum / Math.Max(n, 1), clamp: false);
    }

    public void Save(StrategyState state) { }

    public void Load(StrategyState state) { }
}
