namespace MtkdRl.Reports;

/// <summary>What one epoch of a distillation run leaves for the report.</summary>
/// <param name="MeanLogitWeight">Mean over the epoch's rows of wl per teacher (K values; empty for `none`).</param>
/// <param name="MeanFeatureWeight">Mean over the epoch's rows of wf per teacher.</param>
/// <param name="MeanReward">Mean reward the agent saw in the epoch (null for strategies without one).</param>
public sealed record EpochRecord(
    int Epoch, double TrainLoss, double TrainAccuracy, double TestAccuracy, double Seconds,
    IReadOnlyList<double> MeanLogitWeight, IReadOnlyList<double> MeanFeatureWeight, double? MeanReward, double? WeightOnBest = null);

/// <summary>One finished run: a strategy, a seed, and its epochs.</summary>
public sealed record RunRecord(string Strategy, int Seed, IReadOnlyList<string> Teachers, IReadOnlyList<EpochRecord> Epochs)
{
    /// <summary>Test accuracy after the last epoch: the figure the comparison ranks (no peeking at the best epoch).</summary>
    public double FinalTestAccuracy => Epochs.Count == 0 ? double.NaN : Epochs[^1].TestAccuracy;

    public double MeanEpochSeconds => Epochs.Count == 0 ? double.NaN : Epochs.Average(e => e.Seconds);
}
