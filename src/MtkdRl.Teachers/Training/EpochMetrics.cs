namespace MtkdRl.Teachers;

/// <summary>One line of a training run's metrics file (JSON lines, snake_case): the epoch just completed.</summary>
/// <param name="Epoch">Epochs completed, from 1.</param>
/// <param name="Step">Optimiser steps taken so far.</param>
/// <param name="Loss">Mean training cross-entropy over the epoch's batches.</param>
/// <param name="TrainAcc">Training accuracy over the epoch (training mode, augmented inputs).</param>
/// <param name="TestAcc">Test-split accuracy after the epoch (eval mode); null for an epoch the trainer did not score
/// (<see cref="SupervisedTrainer.ScoresTestSplit"/>: the last epoch always is).</param>
/// <param name="Lr">Learning rate of the epoch's last step.</param>
/// <param name="Seconds">Wall time of the epoch, evaluation and checkpoint included.</param>
/// <param name="SamplesPerS">Training samples per second (forward, backward and update, evaluation excluded).</param>
public sealed record EpochMetrics(
    string Model, int Epoch, long Step, double Loss, double TrainAcc, double? TestAcc, double Lr, double Seconds, double SamplesPerS);

/// <summary>Hooks a caller can use to show progress; every method is called on the training thread.</summary>
public interface ITrainingObserver
{
    void EpochStarted(string model, int epoch, int epochs, int batches);
    void BatchDone(string model, int batch, double loss);
    void EpochDone(EpochMetrics metrics);
}
