namespace MtkdRl.Strategies;

/// <summary>The paper's per-row reward -(CEs + sum wl KL + beta sum wf mse), z-scored over the batch (<see cref="PaperReward"/>).</summary>
internal sealed class PaperLossReward(bool clamp) : IPpoReward
{
    public bool NeedsProbeLoss => false;

    public void Compute(in LearnFeedback feedback, ReadOnlySpan<float> wl, ReadOnlySpan<float> wf, ReadOnlySpan<int> keptRows, Span<float> reward) =>
        PaperReward.Compute(feedback.Stats, feedback.Labels, wl, wf, feedback.Beta, clamp, reward);

    public void Save(StrategyState state) { }

    public void Load(StrategyState state) { }
}
