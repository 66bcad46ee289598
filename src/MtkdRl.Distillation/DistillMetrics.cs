using System.Text.Json.Serialization;

namespace MtkdRl.Distillation;

/// <summary>One line of a distillation run's metrics file (JSON lines, snake_case): the epoch just completed.</summary>
/// <param name="Loss">Mean training loss of the epoch (the op's loss: CE + weighted KD terms; CE alone for `none`).</param>
/// <param name="TrainAcc">Student accuracy on the epoch's training batches (training mode).</param>
/// <param name="TestAcc">Student accuracy on the test split after the epoch (eval mode).</param>
/// <param name="TrainSeconds">Wall time of the epoch's steps (teacher gather, student, op, strategy, optimiser); evaluation and checkpoint excluded.</param>
/// <param name="StrategySeconds">Part of TrainSeconds spent in the strategy (choosing weights, learning, its epoch-end update).</param>
/// <param name="Seconds">Wall time of the whole epoch, evaluation and checkpoint included.</param>
/// <param name="MeanWl">Mean logit weight per teacher over the epoch's rows.</param>
/// <param name="MeanWf">Mean feature weight per teacher over the epoch's rows.</param>
/// <param name="MeanReward">Mean reward of the agent's updates in the epoch (null without an agent or update).</param>
/// <param name="WlOnBest">Mean over the epoch's rows of the share of the row's logit weight that went to its most
/// competent teacher (lowest CEt, the teacher's cross-entropy on the row's label): 1/K for aver, 1 for a perfect
/// per-row router. Null for `none` (and in metrics written before it existed).</param>
public sealed record DistillEpochMetrics(
    string Strategy, ulong Seed, int Epoch, long Step, double Loss, double TrainAcc, double TestAcc, double Lr,
    double TrainSeconds, double StrategySeconds, double Seconds, double SamplesPerS,
    float[] MeanWl, float[] MeanWf, double? MeanReward, double? WlOnBest = null)
{
    /// <summary>
    /// The epoch means of the agent's other metric fields (<see cref="Strategies.AgentUpdateLog.MetricFields"/>),
    /// written at the top level of the line under their own keys; null (nothing written) when it reports none.
    /// </summary>
    [JsonExtensionData]
    public Dictionary<string, object>? Extra { get; init; }
}

/// <summary>Accumulates <see cref="DistillEpochMetrics.WlOnBest"/> over batches.</summary>
public sealed class WeightOnBest
{
    private double _sum;
    private long _rows;

    /// <summary>Adds the counted rows of a batch: wl [B,K], CEt [B,K], labels [B] (-1: ignored row).</summary>
    public void Add(ReadOnlySpan<float> wl, ReadOnlySpan<float> ceT, ReadOnlySpan<int> labels, int k)
    {
        for (int b = 0; b < labels.Length; b++)
        {
            if (labels[b] < 0) continue;
            var w = wl.Slice(b * k, k);
            var ce = ceT.Slice(b * k, k);
            int best = 0;
            for (int j = 1; j < k; j++) if (ce[j] < ce[best]) best = j;
            double total = 0;
            foreach (float v in w) total += v;
            if (!(total > 0)) continue;
            _sum += w[best] / total;
            _rows++;
        }
    }

    /// <summary>The mean share so far (null when no row had positive weights), then starts over.</summary>
    public double? TakeMean()
    {
        double? mean = _rows > 0 ? _sum / _rows : null;
        _sum = 0;
        _rows = 0;
        return mean;
    }
}

/// <summary>summary.json of a finished run.</summary>
public sealed record DistillSummary(
    string Strategy, ulong Seed, string Student, int Epochs, double FinalTestAcc, double BestTestAcc,
    double MeanTrainSecondsPerEpoch, double MeanStrategySecondsPerEpoch, IReadOnlyList<string> Teachers,
    IReadOnlyList<double> TeacherTestAcc, string Backend, double Seconds)
{
    /// <summary>The student's accuracy on the last epoch's training batches.</summary>
    public double FinalTrainAcc { get; init; } = double.NaN;

    /// <summary>One line when the pool is weak against this student on the training split (<see cref="PoolStrength"/>); null otherwise.</summary>
    public string? Warning { get; init; }

    /// <summary>The run's logit divergence and feature loss (DistillRecipe.KdLoss, FeatureLoss).</summary>
    public string KdLoss { get; init; } = "kl";

    public string FeatureLoss { get; init; } = "mse";
}

/// <summary>Progress hooks; every call is on the training thread.</summary>
public interface IDistillObserver
{
    void EpochStarted(string run, int epoch, int epochs, int batches);
    void BatchDone(string run, int batch, double loss);
    void EpochDone(string run, DistillEpochMetrics metrics);
}
