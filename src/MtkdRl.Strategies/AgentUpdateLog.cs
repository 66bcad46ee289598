namespace MtkdRl.Strategies;

/// <summary>What an agent reports after it updates itself (one JSON line each).</summary>
public abstract record AgentUpdateLog(string Agent, long Update)
{
    /// <summary>The key of <see cref="MetricFields"/> that fills the metrics line's mean_reward.</summary>
    public const string MeanRewardField = "mean_reward";

    /// <summary>
    /// The fields of this update that the epoch's metrics line reports, each averaged over the epoch's updates
    /// (non-finite values left out): snake_case key and value. <see cref="MeanRewardField"/> fills
    /// mean_reward; any other key is written under its own name.
    /// </summary>
    public virtual IEnumerable<KeyValuePair<string, double>> MetricFields() => [];
}

/// <summary>
/// One PPO update over a full rollout.
/// </summary>
/// <param name="ApproxKl">Mean of (ratio - 1) - log ratio over the last epoch's minibatches (non-negative KL estimate).</param>
/// <param name="ClipFraction">Share of rows whose ratio left [1 - clip, 1 + clip] (last epoch).</param>
/// <param name="ExplainedVariance">1 - Var(return - value) / Var(return) over the rollout, before the update.</param>
/// <param name="Entropy">Entropy of the Gaussian policy per teacher logit, in nats.</param>
/// <param name="PolicyLoss">Clipped surrogate loss (last epoch mean).</param>
/// <param name="ValueLoss">Clipped value loss (last epoch mean).</param>
/// <param name="LearningRate">Learning rate used for this update (after annealing).</param>
/// <param name="EpochsRun">Epochs over the rollout actually run (fewer when the target-KL stop fired).</param>
/// <param name="Rows">Rows in the rollout.</param>
/// <param name="MeanReward">Mean reward of the rollout, as the agent saw it (after normalisation).</param>
public sealed record PpoUpdateLog(
    long Update, double ApproxKl, double ClipFraction, double ExplainedVariance, double Entropy,
    double PolicyLoss, double ValueLoss, double LearningRate, int EpochsRun, int Rows, double MeanReward)
    : AgentUpdateLog("mtkd-rl-ppo", Update)
{
    public override IEnumerable<KeyValuePair<string, double>> MetricFields() => [new(MeanRewardField, MeanReward)];
}

/// <summary>
/// One replay of the paper agent over its stored batches.
/// </summary>
/// <param name="Objective">Mean of J over the replayed batches (each J measured before its SGD step).</param>
/// <param name="Batches">Batches replayed.</param>
/// <param name="MeanReward">Mean clamped reward over the replayed rows.</param>
/// <param name="LogitMix">Mixing factors of the logit weights (policy, confidence, divergence).</param>
/// <param name="FeatureMix">Mixing factors of the feature weights.</param>
public sealed record PaperUpdateLog(
    long Update, double Objective, int Batches, double MeanReward, float[] LogitMix, float[] FeatureMix)
    : AgentUpdateLog("mtkd-rl-paper", Update)
{
    public override IEnumerable<KeyValuePair<string, double>> MetricFields() => [new(MeanRewardField, MeanReward)];
}
