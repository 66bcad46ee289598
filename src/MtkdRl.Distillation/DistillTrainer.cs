using System.Diagnostics;
using System.Text.Json;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Core.Formats;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Datasets;
using MtkdRl.Strategies;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>How a <see cref="DistillTrainer.Run"/> call ended.</summary>
public sealed record DistillOutcome(DistillSummary Summary, IReadOnlyList<DistillEpochMetrics> Metrics, bool Resumed);

/// <summary>
/// Distils a student from a pool's teachers under one weighting strategy. Per batch: gather the teachers'
/// logits and embeddings for the batch's rows from the memory-mapped cache (or, with live teachers, run them
/// on the batch's augmented images); run the student and its
/// projection heads; let the strategy weigh the teachers (from the op's statistics when it needs them, in
/// which case the op runs as stats then gradient, else as one fused sweep); step the optimiser; give the
/// strategy its feedback. Per epoch: the strategy's epoch-end update, the student's test accuracy, a
/// checkpoint of everything (student, heads, optimiser, strategy, loader position) and a metrics line.
/// A resumed run continues bit for bit (same thread count and backend).
/// </summary>
public sealed class DistillTrainer
{
    private const ulong ProbeSalt = 0x7072_6F62_6500_0001UL;

    private readonly ImageDataset _data;
    private readonly string _poolDir;
    private readonly CpuCompute _compute;
    private readonly IDistillBackend _backend;
    private readonly string _backendName;

    public DistillTrainer(ImageDataset data, string poolDir, CpuCompute compute, IDistillBackend backend, string backendName)
    {
        _data = data;
        _poolDir = poolDir;
        _compute = compute;
        _backend = backend;
        _backendName = backendName;
    }

    public DistillOutcome Run(DistillRecipe recipe, string outDir, bool resume, IDistillObserver? observer = null, CancellationToken cancel = default)
    {
        recipe.Validate();
        var clock = Stopwatch.StartNew();
        string run = $"{recipe.Strategy}/seed{recipe.Seed}";
        var manifest = PoolManifest.Read(_poolDir);
        var train = _data.Train;
        var normalization = ChannelNormalization.FromTrainingSplit(train);
        using ITeacherSource teachers = recipe.LiveTeachers
            ? new LiveTeachers(_poolDir, _data, normalization, _compute)
            : new CachedTeachers(_poolDir, _data);
        int K = teachers.K, C = teachers.Classes, B = recipe.BatchSize;
        var widths = teachers.Widths.ToArray();
        if (C != train.ClassCount)
            throw new MtkdInputException($"{PoolManifest.PathIn(_poolDir)}: teachers give {C} classes, {train.Name} has {train.ClassCount}");
        var embeddingScale = EmbeddingScale.Measure(teachers, train, normalization);
        var input = SampleShape.Image(train.Channels, train.Height, train.Width);

        var (trainRows, probeRows) = SplitProbe(recipe, train.Count);
        if ((trainRows?.Length ?? train.Count) < B)
            throw new MtkdInputException($"{train.Name}: {trainRows?.Length ?? train.Count} training rows, fewer than one batch of {B}");

        var rng = new Rng(recipe.Seed);
        var student = recipe.ParsedStudent().Build(input, C, _compute, rng.Fork());
        var heads = new ProjectionHeads(student.EmbeddingWidth, widths, _compute, rng.Fork());
        var loader = new BatchLoader(train, normalization, BatchLoaderOptions.Training(B, recipe.CropPadding, recipe.HorizontalFlip, dropLast: true), rng.Fork(), trainRows);
        var strategy = StrategyCatalog.Create(recipe.Strategy, K, recipe.StrategyOptions(C, widths));
        bool none = recipe.Strategy == "none";
        Optimizer CreateOptimizer(Model m) => recipe.CreateOptimizer(none ? m.Parameters : m.Parameters.Concat(heads.Parameters));

        using var runLock = FolderLock.Acquire(outDir);
        string metricsPath = Path.Combine(outDir, "metrics.jsonl"), agentPath = Path.Combine(outDir, "agent.jsonl");
        var metrics = new List<DistillEpochMetrics>();
        var agentLines = new List<JsonElement>();
        Optimizer optimizer;
        long step = 0;
        int epoch = 0;
        bool resumed = false;
        if (DistillCheckpoint.Exists(outDir))
        {
            if (!resume)
                throw new MtkdInputException($"{Path.Combine(outDir, DistillCheckpoint.StateJson)}: a run is already there; pass --resume to continue it or choose another --out");
            var state = DistillCheckpoint.ReadState(outDir);
            string statePath = Path.Combine(outDir, DistillCheckpoint.StateJson);
            // Compared as their strategy sees them: an option that never reached it does not make another run.
            if (state.Recipe.ForStrategy(state.Recipe.Strategy, state.Recipe.Seed) != recipe.ForStrategy(recipe.Strategy, recipe.Seed))
                throw new MtkdInputException($"{statePath}: --resume with another configuration (saved: {Describe(state.Recipe)}; now: {Describe(recipe)})");
            if (state.DatasetFingerprint != _data.FingerprintHex || state.PoolFingerprint != teachers.PoolFingerprint)
                throw new MtkdInputException($"{statePath}: the run was made with another dataset or teacher pool; start it again in a new --out");
            student = DistillCheckpoint.LoadInto(outDir, state, _compute, heads, CreateOptimizer, strategy, out optimizer);
            loader.Restore(new LoaderState(state.Loader!.RngState, state.Loader.Epoch, state.Loader.NextBatch));
            step = state.Step;
            epoch = state.Epoch;
            metrics.AddRange(JsonFiles.ReadLines<DistillEpochMetrics>(metricsPath).Where(m => m.Epoch <= epoch));
            agentLines.AddRange(JsonFiles.ReadLines<JsonElement>(agentPath)
                .Where(l => l.ValueKind == JsonValueKind.Object && l.TryGetProperty("epoch", out var e) && e.TryGetInt32(out int n) && n <= epoch));
            resumed = true;
        }
        else
        {
            optimizer = CreateOptimizer(student);
        }
        Evaluator.CheckFits(train, student, "student");

        var studentConfig = new CheckpointConfig
        {
            Name = "student",
            ClassNames = train.ClassNames,
            Dataset = new DatasetIdentity(_data.Name, _data.FingerprintHex),
            Normalization = new NormalizationRecord([.. normalization.Mean], [.. normalization.Std]),
        };
        using var distill = new DistillStep(student, heads, _backend, B, C, recipe.Hyper);
        var schedule = recipe.CreateSchedule(loader.BatchesPerEpoch);
        var batch = loader.CreateBatch();
        var wl = new float[B * K];
        var wf = new float[B * K];
        var gradLogits = new float[B * C];
        var probe = probeRows is null ? null : new ProbeBatch(train, normalization, probeRows);

        while (epoch < recipe.Epochs && !cancel.IsCancellationRequested)
        {
            var epochClock = Stopwatch.StartNew();
            observer?.EpochStarted(run, epoch + 1, recipe.Epochs, loader.BatchesPerEpoch);
            var sumWl = new double[K];
            var sumWf = new double[K];
            double lossSum = 0, strategySeconds = 0;
            long seen = 0, correct = 0;
            int batchIndex = 0;
            var rewards = new List<double>();
            var onBest = new WeightOnBest();
            double probeLoss = probe?.Loss(student) ?? double.NaN;
            while (loader.TryNext(batch))
            {
                int n = batch.Count;
                var labels = batch.LabelBuffer.AsMemory(0, n);
                double loss;
                DistillStats stats;
                if (none)
                {
                    student.Forward(batch.Images, n, training: true);
                    loss = SoftmaxCrossEntropy.Compute(student.Logits, labels.Span, C, gradLogits);
                    correct += Accuracy.CountCorrect(student.Logits, labels.Span, C);
                    student.Backward(gradLogits);
                    stats = distill.Stats;
                    Array.Clear(wl);
                    Array.Clear(wf);
                }
                else
                {
                    teachers.Fill(batch.IndexBuffer.AsSpan(0, n), batch.Images, n, distill.TeacherLogits, distill.TeacherEmbeddings);
                    EmbeddingScale.Apply(distill.TeacherEmbeddings, n, widths, embeddingScale);
                    var strategyClock = Stopwatch.StartNew();
                    if (strategy.NeedsStats)
                    {
                        strategyClock.Stop();
                        stats = distill.Forward(batch.Images, labels.Span);
                        strategyClock.Start();
                        strategy.Weights(Context(strategy, stats, labels.Span, distill), wl, wf);
                        strategyClock.Stop();
                        distill.Backward(wl, wf);
                    }
                    else
                    {
                        strategy.Weights(Context(strategy, distill.Stats, labels.Span, distill), wl, wf);
                        strategyClock.Stop();
                        stats = distill.RunFused(batch.Images, labels.Span, wl, wf);
                    }
                    strategySeconds += strategyClock.Elapsed.TotalSeconds;
                    loss = distill.Loss;
                    correct += Accuracy.CountCorrect(distill.StudentLogits, labels.Span, C);
                }
                if (!double.IsFinite(loss))
                    throw new MtkdException($"{run}: training diverged at epoch {epoch + 1}, step {step} (loss {loss}); lower the learning rate");
                optimizer.LearningRate = schedule.At(step);
                optimizer.Step();
                step++;
                double probeBefore = probeLoss;
                if (probe is not null) probeLoss = probe.Loss(student);
                var learnClock = Stopwatch.StartNew();
                var log = strategy.Learn(new LearnFeedback(stats, labels.Span, recipe.Beta, probeBefore, probeLoss));
                strategySeconds += learnClock.Elapsed.TotalSeconds;
                if (log is not null) Record(agentLines, rewards, epoch + 1, log);
                if (!none) onBest.Add(wl.AsSpan(0, n * K), stats.CeT.AsSpan(0, n * K), labels.Span, K);
                for (int i = 0; i < n * K; i++)
                {
                    sumWl[i % K] += wl[i];
                    sumWf[i % K] += wf[i];
                }
                lossSum += loss * n;
                seen += n;
                observer?.BatchDone(run, ++batchIndex, loss);
            }
            var endClock = Stopwatch.StartNew();
            var endLog = strategy.EndEpoch();
            strategySeconds += endClock.Elapsed.TotalSeconds;
            if (endLog is not null) Record(agentLines, rewards, epoch + 1, endLog);
            double trainSeconds = epochClock.Elapsed.TotalSeconds;
            epoch++;
            var test = Evaluator.Run(student, _data.Test, normalization, "student");
            var loaderState = loader.State;
            DistillCheckpoint.Save(outDir, student, studentConfig with { Epoch = epoch, Step = step, TestAccuracy = test.Accuracy }, heads,
                optimizer, strategy, new DistillState
                {
                    Recipe = recipe,
                    DatasetFingerprint = _data.FingerprintHex,
                    PoolFingerprint = teachers.PoolFingerprint,
                    Epoch = epoch,
                    Step = step,
                    Loader = new LoaderRecord(loaderState.RngState, loaderState.Epoch, loaderState.NextBatch),
                });
            var line = new DistillEpochMetrics(recipe.Strategy, recipe.Seed, epoch, step, lossSum / seen, (double)correct / seen, test.Accuracy,
                optimizer.LearningRate, trainSeconds, strategySeconds, epochClock.Elapsed.TotalSeconds, seen / trainSeconds,
                [.. sumWl.Select(v => (float)(v / seen))], [.. sumWf.Select(v => (float)(v / seen))],
                rewards.Count > 0 ? rewards.Average() : null, onBest.TakeMean());
            metrics.Add(line);
            JsonFiles.WriteLines(metricsPath, metrics);
            JsonFiles.WriteLines(agentPath, agentLines);
            observer?.EpochDone(run, line);
        }

        var summary = new DistillSummary(recipe.Strategy, recipe.Seed, recipe.Student, epoch,
            metrics.Count > 0 ? metrics[^1].TestAcc : double.NaN, metrics.Count > 0 ? metrics.Max(m => m.TestAcc) : double.NaN,
            metrics.Count > 0 ? metrics.Average(m => m.TrainSeconds) : double.NaN,
            metrics.Count > 0 ? metrics.Average(m => m.StrategySeconds) : double.NaN,
            [.. manifest.Teachers.Select(t => t.Name)], [.. manifest.Teachers.Select(t => t.TestAccuracy)], _backendName,
            clock.Elapsed.TotalSeconds);
        if (epoch >= recipe.Epochs) JsonFiles.Write(Path.Combine(outDir, "summary.json"), summary);
        return new DistillOutcome(summary, metrics, resumed);
    }

    private static WeightingContext Context(IWeightingStrategy strategy, DistillStats stats, ReadOnlySpan<int> labels, DistillStep step) =>
        strategy.NeedsTeacherOutputs
            ? new WeightingContext(stats, labels, step.TeacherEmbeddings, step.TeacherLogits)
            : new WeightingContext(stats, labels);

    /// <summary>Rows held out for the probe reward (a seeded choice) and the rows left for training; (null, null) without a probe.</summary>
    private static (int[]? Train, int[]? Probe) SplitProbe(DistillRecipe recipe, int rows)
    {
        if (!recipe.UsesProbe) return (null, null);
        if (recipe.ProbeRows >= rows) throw new MtkdInputException($"probe rows ({recipe.ProbeRows}) must be fewer than the {rows} training rows");
        var order = Enumerable.Range(0, rows).ToArray();
        new Rng(recipe.Seed ^ ProbeSalt).Shuffle<int>(order);
        var probe = order[..recipe.ProbeRows];
        var rest = order[recipe.ProbeRows..];
        Array.Sort(probe);
        Array.Sort(rest);
        return (rest, probe);
    }

    private static void Record(List<JsonElement> lines, List<double> rewards, int epoch, AgentUpdateLog log)
    {
        double? reward = log switch { PpoUpdateLog p => p.MeanReward, PaperUpdateLog p => p.MeanReward, _ => null };
        if (reward is { } r && double.IsFinite(r)) rewards.Add(r);
        var body = JsonSerializer.SerializeToElement(log, log.GetType(), JsonFiles.Compact);
        lines.Add(JsonSerializer.SerializeToElement(new { epoch, log = body }, JsonFiles.Compact));
    }

    private static string Describe(DistillRecipe r) =>
        $"{r.Student}, {r.Strategy}{(r.Dynamic ? " --dynamic" : "")}, {r.Epochs} epochs, batch {r.BatchSize}, {r.Optimizer} lr {r.LearningRate}, seed {r.Seed}";

    /// <summary>A fixed held-out batch and the student's cross-entropy on it (eval mode).</summary>
    private sealed class ProbeBatch
    {
        private readonly float[] _images;
        private readonly int[] _labels;
        private readonly int _rows;

        public ProbeBatch(LabeledImages split, ChannelNormalization normalization, int[] rows)
        {
            var loader = new BatchLoader(split, normalization, BatchLoaderOptions.Evaluation(rows.Length), null, rows);
            var batch = loader.CreateBatch();
            loader.TryNext(batch);
            _rows = batch.Count;
            _images = batch.Images.ToArray();
            _labels = batch.Labels.ToArray();
        }

        public double Loss(Model student)
        {
            student.Forward(_images, _rows, training: false);
            return SoftmaxCrossEntropy.Loss(student.Logits, _labels, student.Classes);
        }
    }
}
