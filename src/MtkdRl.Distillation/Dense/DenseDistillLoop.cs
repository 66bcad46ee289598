using System.Diagnostics;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Strategies;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>One epoch of a dense run: training loss, the task's two test metrics, mean teacher weights.</summary>
public sealed record DenseLoopEpoch(int Epoch, double Loss, double First, double Second, float[] MeanWl, double Seconds);

/// <summary>
/// The training loop of a dense distillation run, for any <see cref="DenseTask"/>: the teachers run live on every
/// batch (eval mode), under any catalog strategy, through <see cref="DenseDistillStep"/>: the recipe's student
/// spec, batch (images per step), optimiser, schedule, T, beta and loss weights, its epochs, its seed. Teacher
/// embeddings are scaled to unit RMS per teacher (measured on the first training images), as for
/// classification. A strategy that needs a probe loss gets the student's own loss on a fixed held-out batch of
/// training images before and after each step. The reported loss is the op's plus what the student adds on its
/// own (a detector's box loss). Each epoch ends with the strategy's epoch-end update and a test evaluation.
/// </summary>
public static class DenseDistillLoop
{
    public const int ProbeImages = 16;
    private const int ScaleImages = 64;

    /// <summary>The teachers' checkpoint paths of a pool of <paramref name="task"/> made for the scenes of <paramref name="fingerprint"/>, or a one-line error.</summary>
    public static IReadOnlyList<string> TeacherPaths(string poolDir, TaskKind task, string fingerprint, string source)
    {
        var manifest = PoolManifest.Read(poolDir, task);
        if (manifest.Teachers.Count == 0) throw new MtkdInputException($"{PoolManifest.PathIn(poolDir)}: the pool has no teachers yet");
        if (manifest.Dataset.Fingerprint != fingerprint)
            throw new MtkdInputException($"{PoolManifest.PathIn(poolDir)}: the pool belongs to {manifest.Dataset.Name}, not to the scenes in {source}");
        return [.. manifest.Teachers.Select(t => Path.Combine(poolDir, t.Checkpoint!))];
    }

    /// <summary>The loop with each epoch line turned into a task's own record.</summary>
    public static IReadOnlyList<TEpoch> Run<TEpoch>(DenseTask task, DistillRecipe recipe, int classes, CpuCompute compute, IDistillBackend backend,
        Func<DenseLoopEpoch, TEpoch> convert, Action<TEpoch>? epochDone) =>
        [.. Run(task, recipe, classes, compute, backend, epochDone is null ? null : e => epochDone(convert(e))).Select(convert)];

    public static IReadOnlyList<DenseLoopEpoch> Run(DenseTask task, DistillRecipe recipe, int classes, CpuCompute compute, IDistillBackend backend,
        Action<DenseLoopEpoch>? epochDone = null)
    {
        var widths = task.TeacherWidths;
        int k = widths.Count;
        var rng = new Rng(recipe.Seed);
        var student = task.CreateStudent(recipe.Student, rng.Fork());
        var heads = new ProjectionHeads(student.EmbeddingWidth, widths, compute, rng.Fork());
        var strategy = StrategyCatalog.Create(recipe.Strategy, k, recipe.StrategyOptions(classes, widths));
        int images = recipe.BatchSize;
        var order = rng.Fork();
        var rows = Enumerable.Range(0, task.TrainCount).ToArray();
        DenseBatch? probe = null;
        if (strategy.NeedsProbeLoss)
        {
            order.Shuffle(rows.AsSpan());
            probe = task.NewBatch(ProbeImages);
            task.Fill(rows.AsSpan(0, ProbeImages), probe);
            rows = rows[ProbeImages..];
        }
        if (rows.Length < images) throw new MtkdInputException($"{task.Source}: {rows.Length} training images, fewer than a batch of {images}");
        int batches = rows.Length / images;
        using var step = new DenseDistillStep(student, heads, backend, images, recipe.Hyper);
        var optimizer = recipe.CreateOptimizer(strategy.UsesTeachers ? step.Parameters : student.Parameters);
        var schedule = recipe.CreateSchedule(batches);
        var scale = MeasureScale(task, step.Shape.C, student.RowsPerImage);
        var batch = task.NewBatch(images);
        var ft = new float[images * heads.F];
        var wl = new float[step.Shape.B * k];
        var wf = new float[step.Shape.B * k];
        var epochs = new List<DenseLoopEpoch>();
        for (int epoch = 1; epoch <= recipe.Epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            order.Shuffle(rows.AsSpan());
            double lossSum = 0, probeLoss = probe is null ? double.NaN : task.StudentLoss(probe, train: false);
            var sumWl = new double[k];
            for (int b = 0; b < batches; b++)
            {
                task.Fill(rows.AsSpan(b * images, images), batch);
                double loss;
                if (!strategy.UsesTeachers)
                {
                    loss = task.StudentLoss(batch, train: true);
                    Array.Clear(wl);
                }
                else
                {
                    FillTeachers(task, step, batch, ft, scale);
                    if (strategy.NeedsStats)
                    {
                        step.Forward(batch.X, batch.Labels);
                        strategy.Weights(step.ContextFor(strategy), wl, wf);
                        step.Backward(wl, wf);
                    }
                    else
                    {
                        strategy.Weights(step.ContextFor(strategy), wl, wf);
                        step.RunFused(batch.X, batch.Labels, wl, wf);
                    }
                    loss = step.Loss + student.ExtraLoss;
                }
                if (!double.IsFinite(loss)) throw new MtkdException($"dense run: training diverged at epoch {epoch}, step {b + 1} (loss {loss}); lower the learning rate");
                optimizer.LearningRate = schedule.At(optimizer.StepCount);
                optimizer.Step();
                double before = probeLoss;
                if (probe is not null) probeLoss = task.StudentLoss(probe, train: false);
                if (strategy.UsesTeachers) strategy.Learn(step.FeedbackFor(recipe.Beta, before, probeLoss));
                for (int i = 0; i < wl.Length; i++) sumWl[i % k] += wl[i];
                lossSum += loss;
            }
            strategy.EndEpoch();
            var (first, second) = task.Evaluate();
            var line = new DenseLoopEpoch(epoch, lossSum / batches, first, second,
                [.. sumWl.Select(v => (float)(v / ((double)batches * step.Shape.B)))], clock.Elapsed.TotalSeconds);
            epochs.Add(line);
            epochDone?.Invoke(line);
        }
        return epochs;
    }

    private static void FillTeachers(DenseTask task, DenseDistillStep step, DenseBatch batch, float[] ft, float[] scale)
    {
        int f = step.Heads.F, offset = 0;
        for (int t = 0; t < scale.Length; t++)
        {
            var e = task.RunTeacher(t, batch, step.TeacherRows(t));
            int d = task.TeacherWidths[t];
            for (int n = 0; n < step.Images; n++)
                for (int j = 0; j < d; j++) ft[n * f + offset + j] = e[n * d + j] * scale[t];
            offset += d;
        }
        step.SetTeacherEmbeddings(ft);
    }

    /// <summary>Per teacher, 1 / the RMS of its embedding over the first training images (1 for an all-zero one).</summary>
    private static float[] MeasureScale(DenseTask task, int columns, int rowsPerImage)
    {
        int n = Math.Min(task.TrainCount, ScaleImages);
        var batch = task.NewBatch(n);
        task.Fill(Enumerable.Range(0, n).ToArray(), batch);
        var rows = new float[n * rowsPerImage * columns];
        var scale = new float[task.TeacherWidths.Count];
        for (int t = 0; t < scale.Length; t++)
        {
            var e = task.RunTeacher(t, batch, rows);
            double sum = 0;
            foreach (float v in e) sum += (double)v * v;
            double rms = Math.Sqrt(sum / e.Length);
            scale[t] = rms > 0 ? (float)(1 / rms) : 1f;
        }
        return scale;
    }
}
