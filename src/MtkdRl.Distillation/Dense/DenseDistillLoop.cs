using System.Diagnostics;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Core.Formats;
using MtkdRl.Strategies;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>One epoch of a dense run: training loss, the task's two test metrics, mean teacher weights.</summary>
public sealed record DenseLoopEpoch(int Epoch, double Loss, double First, double Second, float[] MeanWl, double Seconds) : IDenseEpoch;

/// <summary>A task's record of one epoch of a dense run (a line of metrics.jsonl).</summary>
public interface IDenseEpoch
{
    int Epoch { get; }

    double Loss { get; }

    float[] MeanWl { get; }

    double Seconds { get; }
}

/// <summary>
/// Where a dense run keeps its state: the folder, whether to continue the run already there, and the summary.json
/// record of the finished run made from its epochs.
/// </summary>
public sealed record DenseRunFolder<TEpoch>(string Dir, bool Resume, Func<IReadOnlyList<TEpoch>, object> Summary);

/// <summary>Where a dense run's teacher outputs come from: the pool's cache for the student's grid unless <paramref name="Live"/>; <paramref name="Said"/> hears the choice in one line.</summary>
public sealed record DenseTeacherOptions(bool Live = false, Action<string>? Said = null);

/// <summary>
/// The training loop of a dense distillation run, for any <see cref="DenseTask"/>: the teachers' outputs come from
/// the pool's <see cref="DenseTeacherCache"/> for the student's grid when there is one, else the teachers run live on
/// every batch (eval mode); under any catalog strategy, through <see cref="DenseDistillStep"/>: the recipe's student
/// spec, batch (images per step), optimiser, schedule, T, beta and loss weights, its epochs, its seed. Teacher
/// embeddings are scaled to unit RMS per teacher (measured on the first training images), as for
/// classification. A strategy that needs a probe loss gets the student's own loss on a fixed held-out batch of
/// training images before and after each step. The reported loss is the op's plus what the student adds on its
/// own (a detector's box loss). Each epoch ends with the strategy's epoch-end update and a test evaluation; with a
/// <see cref="DenseRunFolder{TEpoch}"/>, then a checkpoint of everything (<see cref="DenseDistillCheckpoint"/>:
/// student, heads, optimiser, strategy, the shuffle's RNG) and metrics.jsonl, and summary.json once the last
/// epoch is done. A resumed run continues bit for bit (same thread count and backend).
/// </summary>
public static class DenseDistillLoop
{
    public const int ProbeImages = 16;
    private const int ScaleImages = 64;
    private const string MetricsFile = "metrics.jsonl";

    /// <summary>The loop with each epoch line turned into a task's own record, checkpointed in <paramref name="folder"/> when given.</summary>
    public static IReadOnlyList<TEpoch> Run<TEpoch>(DenseTask task, DistillRecipe recipe, int classes, CpuCompute compute, IDistillBackend backend,
        Func<DenseLoopEpoch, TEpoch> convert, Action<TEpoch>? epochDone, DenseRunFolder<TEpoch>? folder = null, DenseTeacherOptions? teachers = null)
        where TEpoch : IDenseEpoch
    {
        teachers ??= new DenseTeacherOptions();
        recipe.Validate();
        string? outDir = folder?.Dir;
        using var runLock = outDir is null ? null : FolderLock.Acquire(outDir);
        var saved = folder is null ? null : PreviousState(folder, task, recipe);
        var widths = task.TeacherWidths;
        int k = widths.Count;
        var rng = new Rng(recipe.Seed);
        var student = task.CreateStudent(recipe.Student, rng.Fork());
        var heads = new ProjectionHeads(student.EmbeddingWidth, widths, compute, rng.Fork());
        using var cache = teachers.Live ? null : DenseTeacherCache.TryOpen(task);
        teachers.Said?.Invoke(Source(task, cache, teachers.Live));
        var strategy = Weighting(recipe, k, classes, widths);
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
        using var step = new DenseDistillStep(student, heads, backend, images, recipe.Hyper, recipe.ChannelKd);
        var optimizer = recipe.CreateOptimizer(strategy.UsesTeachers ? step.Parameters : student.Parameters);
        var schedule = recipe.CreateSchedule(batches);
        var scale = MeasureScale(task, cache, step.Shape.C, student.RowsPerImage);
        var batch = task.NewBatch(images);
        var ft = new float[images * heads.F];
        var wl = new float[step.Shape.B * k];
        var wf = new float[step.Shape.B * k];
        var epochs = new List<TEpoch>();
        string? metricsPath = outDir is null ? null : Path.Combine(outDir, MetricsFile);
        int first = 1;
        if (saved is not null)
        {
            DenseDistillCheckpoint.LoadInto(outDir!, saved, task, heads, optimizer, strategy);
            for (int e = 0; e < saved.Epoch; e++) order.Shuffle(rows.AsSpan());
            if (saved.Loader!.RngState is not { } rngState || !rngState.AsSpan().SequenceEqual(order.State))
                throw new MtkdInputException($"{Path.Combine(outDir!, DistillCheckpoint.StateJson)}: the loader's position does not follow from the recipe (saved by another build?)");
            epochs.AddRange(JsonFiles.ReadLines<TEpoch>(metricsPath!).Where(m => m.Epoch <= saved.Epoch));
            first = saved.Epoch + 1;
        }
        for (int epoch = first; epoch <= recipe.Epochs; epoch++)
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
                    FillTeachers(task, cache, rows.AsSpan(b * images, images), step, batch, ft, scale);
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
            var (testFirst, testSecond) = task.Evaluate();
            var line = convert(new DenseLoopEpoch(epoch, lossSum / batches, testFirst, testSecond,
                [.. sumWl.Select(v => (float)(v / ((double)batches * step.Shape.B)))], clock.Elapsed.TotalSeconds));
            epochs.Add(line);
            if (outDir is not null)
            {
                DenseDistillCheckpoint.Save(outDir, task, heads, optimizer, strategy, new DistillState
                {
                    Recipe = recipe,
                    DatasetFingerprint = task.DataFingerprint,
                    PoolFingerprint = task.Pool.Fingerprint,
                    Epoch = epoch,
                    Step = optimizer.StepCount,
                    Loader = new LoaderRecord(order.State, epoch, 0),
                });
                JsonFiles.WriteLines(metricsPath!, epochs);
            }
            epochDone?.Invoke(line);
        }
        if (folder is not null && epochs.Count == recipe.Epochs)
            JsonFiles.Write(Path.Combine(folder.Dir, "summary.json"), folder.Summary(epochs));
        return epochs;
    }

    /// <summary>The recipe's strategy, deciding once per image (<see cref="PerSampleWeighting"/>) unless the recipe asks for per-pixel weights.</summary>
    public static IWeightingStrategy Weighting(DistillRecipe recipe, int k, int classes, IReadOnlyList<int> widths)
    {
        var strategy = StrategyCatalog.Create(recipe.Strategy, k, recipe.StrategyOptions(classes, widths));
        return recipe.PerPixelWeights ? strategy : new PerSampleWeighting(strategy);
    }

    /// <summary>
    /// The state of the run already in the folder (null when there is none), after checking that it may be continued:
    /// --resume given, the same task, recipe (as its strategy sees it), scenes and pool; else one line.
    /// </summary>
    private static DistillState? PreviousState<TEpoch>(DenseRunFolder<TEpoch> folder, DenseTask task, DistillRecipe recipe)
    {
        if (!DistillCheckpoint.Exists(folder.Dir)) return null;
        string statePath = Path.Combine(folder.Dir, DistillCheckpoint.StateJson);
        if (!folder.Resume)
            throw new MtkdInputException($"{statePath}: a run is already there; pass --resume to continue it or choose another --out");
        var saved = DenseDistillCheckpoint.ReadState(folder.Dir, task.Kind);
        if (saved.Recipe.PerPixelWeights != recipe.PerPixelWeights)
            throw new MtkdInputException($"{statePath}: the run weighs its teachers {Granularity(saved.Recipe)}, --resume asks for {Granularity(recipe)}; " +
                $"{(saved.Recipe.PerPixelWeights ? "add" : "drop")} --per-pixel-weights or choose another --out");
        if (saved.Recipe.ChannelKd != recipe.ChannelKd)
            throw new MtkdInputException($"{statePath}: the run's channel-wise KD is {ChannelKd(saved.Recipe)}, --resume asks for {ChannelKd(recipe)}; " +
                "give the run's --channel-kd and --channel-temperature or choose another --out");
        if (saved.Recipe.ForStrategy(saved.Recipe.Strategy, saved.Recipe.Seed) != recipe.ForStrategy(recipe.Strategy, recipe.Seed))
            throw new MtkdInputException($"{statePath}: --resume with another configuration (saved: {saved.Recipe.Student}, {saved.Recipe.Strategy}, " +
                $"{saved.Recipe.Epochs} epochs, seed {saved.Recipe.Seed}; now: {recipe.Student}, {recipe.Strategy}, {recipe.Epochs} epochs, seed {recipe.Seed})");
        if (saved.DatasetFingerprint != task.DataFingerprint || saved.PoolFingerprint != task.Pool.Fingerprint)
            throw new MtkdInputException($"{statePath}: the run was made with other scenes or another teacher pool ({task.Source}, {task.Pool.Dir}); start it again in a new --out");
        return saved;
    }

    private static string Granularity(DistillRecipe recipe) => recipe.PerPixelWeights ? "per pixel" : "per image";

    private static string ChannelKd(DistillRecipe recipe) => recipe.ChannelKd is { } c ? $"lambda {c.Weight} at tau {c.Temperature}" : "off";

    /// <summary>The one line that says where the teachers' outputs come from.</summary>
    private static string Source(DenseTask task, TeacherCacheFile? cache, bool live) =>
        cache is not null ? $"teachers: cached ({cache.Path}, {cache.Header.DType.ToString().ToLowerInvariant()})"
        : live ? "teachers: live (--live-teachers)"
        : $"teachers: live (no cache in {task.Pool.Dir} for the student's grid {task.StudentGrid}; `mtkd teachers cache --pool {task.Pool.Dir} --data SCENES --student SPEC` makes one)";

    /// <summary>
    /// Every teacher's logit rows into the step and the image embeddings, scaled per teacher, for training images
    /// <paramref name="indices"/>: gathered from the cache, or each teacher run on the batch.
    /// </summary>
    private static void FillTeachers(DenseTask task, TeacherCacheFile? cache, ReadOnlySpan<int> indices, DenseDistillStep step, DenseBatch batch,
        float[] ft, float[] scale)
    {
        int f = step.Heads.F, offset = 0;
        if (cache is not null)
        {
            cache.Gather(indices, step.AllTeacherRows, ft);
            for (int t = 0; t < scale.Length; t++)
            {
                int d = task.TeacherWidths[t];
                for (int n = 0; n < step.Images; n++)
                    for (int j = 0; j < d; j++) ft[n * f + offset + j] *= scale[t];
                offset += d;
            }
        }
        else
        {
            for (int t = 0; t < scale.Length; t++)
            {
                var e = task.RunTeacher(t, batch, step.TeacherRows(t));
                int d = task.TeacherWidths[t];
                for (int n = 0; n < step.Images; n++)
                    for (int j = 0; j < d; j++) ft[n * f + offset + j] = e[n * d + j] * scale[t];
                offset += d;
            }
        }
        step.SetTeacherEmbeddings(ft);
    }

    /// <summary>Per teacher, 1 / the RMS of its embedding over the first training images (1 for an all-zero one), from the cache when there is one.</summary>
    private static float[] MeasureScale(DenseTask task, TeacherCacheFile? cache, int columns, int rowsPerImage)
    {
        int n = Math.Min(task.TrainCount, ScaleImages);
        var first = Enumerable.Range(0, n).ToArray();
        var scale = new float[task.TeacherWidths.Count];
        if (cache is not null)
        {
            int f = task.TeacherWidths.Sum(), offset = 0;
            var all = new float[n * f];
            cache.GatherEmbeddings(first, all);
            for (int t = 0; t < scale.Length; t++)
            {
                int d = task.TeacherWidths[t];
                var e = new float[n * d];
                for (int i = 0; i < n; i++) all.AsSpan(i * f + offset, d).CopyTo(e.AsSpan(i * d, d));
                scale[t] = InverseRms(e);
                offset += d;
            }
            return scale;
        }
        var batch = task.NewBatch(n);
        task.Fill(first, batch);
        var rows = new float[n * rowsPerImage * columns];
        for (int t = 0; t < scale.Length; t++) scale[t] = InverseRms(task.RunTeacher(t, batch, rows));
        return scale;
    }

    private static float InverseRms(ReadOnlySpan<float> e)
    {
        double sum = 0;
        foreach (float v in e) sum += (double)v * v;
        double rms = Math.Sqrt(sum / e.Length);
        return rms > 0 ? (float)(1 / rms) : 1f;
    }
}
