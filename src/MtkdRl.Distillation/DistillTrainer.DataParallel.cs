using System.Diagnostics;
using MtkdRl.Core.Cluster;
using MtkdRl.Data.Batching;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>
/// Data-parallel distillation over the ranks of an MPI job (<see cref="DataParallelShard"/>): every rank holds
/// the whole run (student, heads, optimiser, strategy, loader) and the same weights after every step; rank 0
/// alone writes the run folder and evaluates on the test split. The checkpoint is the single process's, so a
/// run resumes with any number of ranks.
/// </summary>
public sealed partial class DistillTrainer
{
    /// <summary>The ranks a run is spread over (data-parallel); a single process by default.</summary>
    public ICommunicator Job { get; init; } = SingleProcess.Instance;

    /// <summary>After every step, compare a hash of every rank's weights with rank 0's (a one-line error when they differ).</summary>
    public bool CheckReplicas { get; init; }

    /// <summary>One data-parallel step: this rank's rows through the op, whole-batch weights, gradients summed over the ranks.</summary>
    private static double ShardStep(RunState run, DataParallelShard shard, ImageBatch batch, ReadOnlySpan<int> labels, ref double strategySeconds, ref long correct)
    {
        var distill = run.Distill;
        var strategy = run.Strategy;
        var images = shard.Local(batch.Images, batch.ImageSize);
        var local = shard.Local(batch.LabelBuffer.AsSpan(0, batch.Count));
        double loss;
        long localCorrect;
        if (!strategy.UsesTeachers)
        {
            int c = run.C;
            run.Student.Forward(images, shard.LocalRows, training: true);
            loss = SoftmaxCrossEntropy.Compute(run.Student.Logits, local, c, run.GradLogits);
            localCorrect = Accuracy.CountCorrect(run.Student.Logits, local, c);
            run.Student.Backward(run.GradLogits.AsSpan(0, shard.LocalRows * c));
            Array.Clear(run.Wl);
            Array.Clear(run.Wf);
        }
        else
        {
            run.Teachers.Fill(batch.IndexBuffer.AsSpan(0, batch.Count), batch.Images, batch.Count, shard.TeacherLogits, shard.TeacherEmbeddings);
            EmbeddingScale.Apply(shard.TeacherEmbeddings, batch.Count, run.Widths, run.EmbeddingScale);
            shard.SliceTeachers(distill.TeacherLogits, distill.TeacherEmbeddings);
            var strategyClock = new Stopwatch();
            if (strategy.NeedsStats)
            {
                shard.GatherStats(distill.Forward(images, local));
                strategyClock.Start();
                strategy.Weights(shard.ContextFor(strategy, labels), run.Wl, run.Wf);
                strategyClock.Stop();
                shard.SliceWeights(run.Wl, run.Wf);
                distill.Backward(shard.LocalWl, shard.LocalWf);
            }
            else
            {
                strategyClock.Start();
                strategy.Weights(shard.ContextFor(strategy, labels), run.Wl, run.Wf);
                strategyClock.Stop();
                shard.SliceWeights(run.Wl, run.Wf);
                shard.GatherStats(distill.RunFused(images, local, shard.LocalWl, shard.LocalWf));
            }
            strategySeconds += strategyClock.Elapsed.TotalSeconds;
            loss = distill.Loss;
            localCorrect = Accuracy.CountCorrect(distill.StudentLogits, local, run.C);
        }
        var (wholeLoss, wholeCorrect) = shard.Reduce([.. distill.Parameters], run.Student.Buffers, loss, localCorrect, local);
        correct += wholeCorrect;
        return wholeLoss;
    }

    /// <summary>The epoch's metric fields with, over several ranks, the time spent in the collectives (total and per step) and the allreduce's length.</summary>
    private static Dictionary<string, object>? WithCommunication(Dictionary<string, object>? extra, DataParallelShard? shard)
    {
        if (shard is null) return extra;
        var (seconds, reductions, values) = shard.TakeCommunication();
        extra ??= new Dictionary<string, object>(StringComparer.Ordinal);
        extra["communication_seconds"] = seconds;
        extra["communication_ms_per_step"] = reductions > 0 ? 1000 * seconds / reductions : 0.0;
        extra["allreduce_values"] = values;
        return extra;
    }
}
