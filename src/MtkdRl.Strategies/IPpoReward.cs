namespace MtkdRl.Strategies;

/// <summary>Where the PPO agent's reward comes from.</summary>
public enum PpoRewardKind
{
    /// <summary>The paper's per-row reward -(CEs + sum wl KL + beta sum wf mse), z-scored over the batch.</summary>
    Paper,

    /// <summary>The student's loss on a held-out probe batch before the step minus after it, one value for every row
    /// of the batch, divided by the running standard deviation of that improvement.</summary>
    Probe,

    /// <summary>How well the weighted teachers know the row's label: -sum_k wl[b,k] CEt[b,k], z-scored over the
    /// batch. Unlike the paper's reward it cannot be raised by leaning on the teachers the student already imitates
    /// (small KL), only on the teachers that are right.</summary>
    TeacherFit,
}

/// <summary>
/// The reward of each row the PPO agent learns from, computed after the student's step from the same batch's
/// statistics and the weights the agent chose for it.
/// </summary>
internal interface IPpoReward
{
    /// <summary>True when the reward reads <see cref="LearnFeedback.ProbeLossBefore"/> and <see cref="LearnFeedback.ProbeLossAfter"/>.</summary>
    bool NeedsProbeLoss { get; }

    /// <summary>Writes reward[r] at least for every row r in <paramref name="keptRows"/> (the rows joining the rollout).</summary>
    /// <param name="wl">The logit weights the agent chose, [B,K].</param>
    /// <param name="wf">The feature weights, [B,K].</param>
    void Compute(in LearnFeedback feedback, ReadOnlySpan<float> wl, ReadOnlySpan<float> wf, ReadOnlySpan<int> keptRows, Span<float> reward);

    /// <summary>Adds the reward's own running state (if any) to a checkpoint.</summary>
    void Save(StrategyState state);

    /// <summary>Restores what <see cref="Save"/> wrote.</summary>
    void Load(StrategyState state);

    public static IPpoReward Create(PpoConfig config) => config.Reward switch
    {
        PpoRewardKind.Paper => new PaperLossReward(config.ClampPaperReward),
        PpoRewardKind.Probe => new ProbeReward(),
        _ => new TeacherFitReward(config.LabelsSlot),
    };
}
