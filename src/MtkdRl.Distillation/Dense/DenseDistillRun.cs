using System.Diagnostics;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Scenes;
using MtkdRl.Reports.Metrics;
using MtkdRl.Strategies;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>One epoch of a dense run: training loss, test mIoU and pixel accuracy, mean teacher weights.</summary>
public sealed record DenseEpoch(int Epoch, double Loss, double TestMeanIoU, double TestPixelAccuracy, float[] MeanWl, double Seconds);

/// <summary>summary.json of a finished dense run.</summary>
public sealed record DenseDistillSummary(string Task, string Strategy, ulong Seed, string Student, int Epochs, double FinalTestMeanIoU,
    double BestTestMeanIoU, double FinalTestPixelAccuracy, IReadOnlyList<string> Teachers);

/// <summary>
/// Distils a segmentation student from a segmentation pool's teachers, run live on every batch (eval mode), under
/// any catalog strategy, through <see cref="DenseDistillStep"/>: the recipe's student spec (unet or fcn), batch
/// (images per step), optimiser, schedule, T, beta and loss weights, its epochs, its seed. Teacher embeddings are
/// scaled to unit RMS per teacher (measured on the first training canvases), as for classification. A strategy
/// that needs a probe loss gets the student's pixel cross-entropy on a fixed held-out batch of training canvases
/// before and after each step. Each epoch ends with the strategy's epoch-end update and a test evaluation; with an
/// output folder, then a checkpoint of everything (<see cref="DenseDistillCheckpoint"/>: student, heads, optimiser,
/// strategy, the shuffle's RNG) and metrics.jsonl, and summary.json once the last epoch is done. A resumed run
/// continues bit for bit (same thread count and backend).
/// </summary>
public sealed class DenseDistillRun(SceneDataset data, string poolDir, CpuCompute compute, IDistillBackend backend)
{
    public const int ProbeImages = 16;

    public IReadOnlyList<DenseEpoch> Run(DistillRecipe recipe, Action<DenseEpoch>? epochDone = null) => Run(recipe, null, false, epochDone);

    /// <summary>Runs the recipe, checkpointing every epoch in <paramref name="outDir"/> (none when null); <paramref name="resume"/> continues the run there.</summary>
    public IReadOnlyList<DenseEpoch> Run(DistillRecipe recipe, string? outDir, bool resume, Action<DenseEpoch>? epochDone = null)
    {
        recipe.Validate();
        using var runLock = outDir is null ? null : FolderLock.Acquire(outDir);
        DistillState? saved = null;
        if (outDir is not null && DistillCheckpoint.Exists(outDir))
        {
            if (!resume)
                throw new MtkdInputException($"{Path.Combine(outDir, DistillCheckpoint.StateJson)}: a run is already there; pass --resume to continue it or choose another --out");
            saved = DenseDistillCheckpoint.ReadState(outDir);
        }
        var manifest = PoolManifest.Read(poolDir, TaskKind.Segmentation);
        if (manifest.Teachers.Count == 0) throw new MtkdInputException($"{PoolManifest.PathIn(poolDir)}: the pool has no teachers yet");
        if (manifest.Dataset.Fingerprint != SegmentationPool.Identity(data).Fingerprint)
            throw new MtkdInputException($"{PoolManifest.PathIn(poolDir)}: the pool belongs to {manifest.Dataset.Name}, not to the scenes in {data.Source}");
        string poolFingerprint = PoolFingerprint.Compute(poolDir, manifest).Pool;
        string dataFingerprint = SegmentationPool.Identity(data).Fingerprint;
        if (saved is not null) CheckSameRun(outDir!, saved, recipe, dataFingerprint, poolFingerprint);
        var teachers = manifest.Teachers.Select(t => SegmentationCheckpoint.Load(Path.Combine(poolDir, t.Checkpoint!), compute).Model).ToList();
        int k = teachers.Count, classes = data.ClassCount + 1;
        var widths = teachers.Select(t => t.EmbeddingWidth).ToList();
        var train = data.Train;
        var norm = SceneInputs.Normalization(train);
        var rng = new Rng(recipe.Seed);
        var student = ModelSpec.Parse(recipe.Student, "student").BuildSegmentation(teachers[0].InputShape, classes, compute, rng.Fork());
        var heads = new ProjectionHeads(student.EmbeddingWidth, widths, compute, rng.Fork());
        var strategy = StrategyCatalog.Create(recipe.Strategy, k, recipe.StrategyOptions(classes, widths));
        int images = recipe.BatchSize, P = student.Pixels, inputSize = student.InputShape.Size;
        var order = rng.Fork();
        var rows = Enumerable.Range(0, train.Count).ToArray();
        int[]? probe = null;
        if (strategy.NeedsProbeLoss)
        {
            order.Shuffle(rows.AsSpan());
            probe = rows[..ProbeImages];
            rows = rows[ProbeImages..];
        }
        if (rows.Length < images) throw new MtkdInputException($"{data.Source}: {rows.Length} training canvases, fewer than a batch of {images}");
        int batches = rows.Length / images;
        using var step = new DenseDistillStep(student, heads, backend, images, recipe.Hyper);
        var optimizer = recipe.CreateOptimizer(strategy.UsesTeachers ? step.Parameters : student.Parameters);
        var schedule = recipe.CreateSchedule(batches);
        var scale = MeasureScale(teachers, train, norm);
        var x = new float[images * inputSize];
        var masks = new byte[images * P];
        var ft = new float[images * heads.F];
        var wl = new float[step.Shape.B * k];
        var wf = new float[step.Shape.B * k];
        var ce = new PixelCrossEntropy(classes, P);
        var grad = new float[images * classes * P];
        var probeX = probe is null ? null : new float[probe.Length * inputSize];
        var probeMasks = probe is null ? null : new byte[probe.Length * P];
        if (probe is not null) SceneInputs.Fill(train, norm, probe, probeX, probeMasks);
        var epochs = new List<DenseEpoch>();
        string? metricsPath = outDir is null ? null : Path.Combine(outDir, "metrics.jsonl");
        int first = 1;
        if (saved is not null)
        {
            DenseDistillCheckpoint.LoadInto(outDir!, saved, compute, student, heads, optimizer, strategy);
            for (int e = 0; e < saved.Epoch; e++) order.Shuffle(rows.AsSpan());
            if (saved.Loader!.RngState is not { } rngState || !rngState.AsSpan().SequenceEqual(order.State))
                throw new MtkdInputException($"{Path.Combine(outDir!, DistillCheckpoint.StateJson)}: the loader's position does not follow from the recipe (saved by another build?)");
            epochs.AddRange(JsonFiles.ReadLines<DenseEpoch>(metricsPath!).Where(m => m.Epoch <= saved.Epoch));
            first = saved.Epoch + 1;
        }
        var config = new CheckpointConfig
        {
            Name = "student",
            ClassNames = ["background", .. data.Descriptor.Classes],
            Dataset = SegmentationPool.Identity(data),
            Normalization = new NormalizationRecord([.. norm.Mean], [.. norm.Std]),
        };
        for (int epoch = first; epoch <= recipe.Epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            order.Shuffle(rows.AsSpan());
            double lossSum = 0, probeLoss = probe is null ? double.NaN : ProbeLoss(student, ce, probeX!, probeMasks!, probe.Length, grad);
            var sumWl = new double[k];
            for (int b = 0; b < batches; b++)
            {
                SceneInputs.Fill(train, norm, rows.AsSpan(b * images, images), x, masks);
                double loss;
                if (!strategy.UsesTeachers)
                {
                    student.Forward(x, images, training: true);
                    loss = ce.Compute(student.Logits, masks, images, grad);
                    student.Backward(grad);
                    Array.Clear(wl);
                }
                else
                {
                    FillTeachers(step, teachers, x, ft, scale);
                    if (strategy.NeedsStats)
                    {
                        step.Forward(x, masks);
                        strategy.Weights(step.ContextFor(strategy), wl, wf);
                        step.Backward(wl, wf);
                    }
                    else
                    {
                        strategy.Weights(step.ContextFor(strategy), wl, wf);
                        step.RunFused(x, masks, wl, wf);
                    }
                    loss = step.Loss;
                }
                if (!double.IsFinite(loss)) throw new MtkdException($"dense run: training diverged at epoch {epoch}, step {b + 1} (loss {loss}); lower the learning rate");
                optimizer.LearningRate = schedule.At(optimizer.StepCount);
                optimizer.Step();
                double before = probeLoss;
                if (probe is not null) probeLoss = ProbeLoss(student, ce, probeX!, probeMasks!, probe.Length, grad);
                if (strategy.UsesTeachers) strategy.Learn(step.FeedbackFor(recipe.Beta, before, probeLoss));
                for (int i = 0; i < wl.Length; i++) sumWl[i % k] += wl[i];
                lossSum += loss;
            }
            strategy.EndEpoch();
            var test = SegmentationEvaluator.Evaluate(student, data.Test, norm);
            var line = new DenseEpoch(epoch, lossSum / batches, test.MeanIoU, test.PixelAccuracy,
                [.. sumWl.Select(v => (float)(v / ((double)batches * step.Shape.B)))], clock.Elapsed.TotalSeconds);
            epochs.Add(line);
            if (outDir is not null)
            {
                DenseDistillCheckpoint.Save(outDir, student, config with { Epoch = epoch, Step = optimizer.StepCount }, heads, optimizer, strategy, new DistillState
                {
                    Recipe = recipe,
                    DatasetFingerprint = dataFingerprint,
                    PoolFingerprint = poolFingerprint,
                    Epoch = epoch,
                    Step = optimizer.StepCount,
                    Loader = new LoaderRecord(order.State, epoch, 0),
                });
                JsonFiles.WriteLines(metricsPath!, epochs);
            }
            epochDone?.Invoke(line);
        }
        if (outDir is not null && epochs.Count == recipe.Epochs)
            JsonFiles.Write(Path.Combine(outDir, "summary.json"), new DenseDistillSummary(TaskKind.Segmentation.Name(), recipe.Strategy, recipe.Seed,
                recipe.Student, recipe.Epochs, epochs[^1].TestMeanIoU, epochs.Max(e => e.TestMeanIoU), epochs[^1].TestPixelAccuracy,
                [.. manifest.Teachers.Select(t => t.Name)]));
        return epochs;
    }

    /// <summary>One line unless the saved run was made with this recipe (as its strategy sees it), these scenes and this pool.</summary>
    private void CheckSameRun(string outDir, DistillState saved, DistillRecipe recipe, string dataFingerprint, string poolFingerprint)
    {
        string statePath = Path.Combine(outDir, DistillCheckpoint.StateJson);
        if (saved.Recipe.ForStrategy(saved.Recipe.Strategy, saved.Recipe.Seed) != recipe.ForStrategy(recipe.Strategy, recipe.Seed))
            throw new MtkdInputException($"{statePath}: --resume with another configuration (saved: {saved.Recipe.Student}, {saved.Recipe.Strategy}, " +
                $"{saved.Recipe.Epochs} epochs, seed {saved.Recipe.Seed}; now: {recipe.Student}, {recipe.Strategy}, {recipe.Epochs} epochs, seed {recipe.Seed})");
        if (saved.DatasetFingerprint != dataFingerprint || saved.PoolFingerprint != poolFingerprint)
            throw new MtkdInputException($"{statePath}: the run was made with other scenes or another teacher pool ({data.Source}, {poolDir}); start it again in a new --out");
    }

    private static void FillTeachers(DenseDistillStep step, IReadOnlyList<SegmentationModel> teachers, float[] x, float[] ft, float[] scale)
    {
        int f = step.Heads.F, offset = 0;
        for (int t = 0; t < teachers.Count; t++)
        {
            var teacher = teachers[t];
            teacher.Forward(x, step.Images, training: false);
            step.SetTeacherLogits(t, teacher.Logits);
            int d = teacher.EmbeddingWidth;
            var e = teacher.Embedding;
            for (int n = 0; n < step.Images; n++)
                for (int j = 0; j < d; j++) ft[n * f + offset + j] = e[n * d + j] * scale[t];
            offset += d;
        }
        step.SetTeacherEmbeddings(ft);
    }

    /// <summary>Per teacher, 1 / the RMS of its embedding over the first training canvases (1 for an all-zero one).</summary>
    private static float[] MeasureScale(IReadOnlyList<SegmentationModel> teachers, SceneSplit train, ChannelNormalization norm)
    {
        int n = Math.Min(train.Count, 64);
        var indices = Enumerable.Range(0, n).ToArray();
        var x = new float[n * teachers[0].InputShape.Size];
        SceneInputs.Fill(train, norm, indices, x, new byte[n * train.Canvas * train.Canvas]);
        return teachers.Select(t =>
        {
            t.Forward(x, n, training: false);
            double sum = 0;
            foreach (float v in t.Embedding) sum += (double)v * v;
            double rms = Math.Sqrt(sum / t.Embedding.Length);
            return rms > 0 ? (float)(1 / rms) : 1f;
        }).ToArray();
    }

    private static double ProbeLoss(SegmentationModel student, PixelCrossEntropy ce, float[] x, byte[] masks, int n, float[] scratch)
    {
        student.Forward(x, n, training: false);
        return ce.Compute(student.Logits, masks, n, scratch);
    }
}
