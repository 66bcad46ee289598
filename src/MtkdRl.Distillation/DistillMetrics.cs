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
public sealed record DistillEpochMetrics(
    string Strategy, ulong Seed, int Epoch, long Step, double Loss, double TrainAcc, double TestAcc, double Lr,
    double TrainSeconds, double StrategySeconds, double Seconds, double SamplesPerS,
    float[] MeanWl, float[] MeanWf, double? MeanReward);

/// <summary>summary.json of a finished run.</summary>
public sealed record DistillSummary(
    string Strategy, ulong Seed, string Student, int Epochs, double FinalTestAcc, double BestTestAcc,
    double MeanTrainSecondsPerEpoch, double MeanStrategySecondsPerEpoch, IReadOnlyList<string> Teachers,
    IReadOnlyList<double> TeacherTestAcc, string Backend, double Seconds);

/// <summary>Progress hooks; every call is on the training thread.</summary>
public interface IDistillObserver
{
    void EpochStarted(string run, int epoch, int epochs, int batches);
    void BatchDone(string run, int batch, double loss);
    void EpochDone(string run, DistillEpochMetrics metrics);
}
