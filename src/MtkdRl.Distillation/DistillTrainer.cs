using System.Diagnostics;
using System.Text.Json;
using MtkdRl.Core;
using MtkdRl.Core.Cluster;
using MtkdRl.Core.Distill;
using MtkdRl.Core.Formats;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Datasets;
using MtkdRl.Strategies;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>How a <see cref="DistillTrainer.Run(DistillRecipe, string, bool, IDistillObserver?, CancellationToken)"/> call ended.</summary>
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
/// <para>The loop knows the strategy only by its capabilities (<see cref="IWeightingStrategy.UsesTeachers"/>,
/// <see cref="IWeightingStrategy.NeedsStats"/>, <see cref="IWeightingStrategy.NeedsTeacherOutputs"/>,
/// <see cref="IWeightingStrategy.NeedsProbeLoss"/>) and the metric fields of its update logs.</para>
/// </summary>
public sealed partial class DistillTrainer
{
    private const ulong ProbeSalt = 0x7072_6F62_6500_0001UL;

    private readonly ImageDataset _data;
    private readonly string _poolDir;
    private readonly CpuCompute _compute;
    private readonly IDistillBackend _backend;
    private readonly string _backendName;
    private IReadOnlyList<TeacherCompetence>? _teacherTrainAccuracies;

    public DistillTrainer(ImageDataset data, string poolDir, CpuCompute compute, IDistillBackend backend, string backendName)
    {
        _data = data;
        _poolDir = poolDir;
        _compute = compute;
        _backend = backend;
        _backendName = backendName;
    }

    /// <summary>Runs (or with <paramref name="resume"/> continues) the recipe's run in <paramref name="outDir"/> under the catalog's strategy.</summary>
    public DistillOutcome Run(DistillRecipe recipe, string outDir, bool resume, IDistillObserver? observer = null, CancellationToken cancel = default) =>
        Run(recipe, (k, options) => StrategyCatalog.Create(recipe.Strategy, k, options), outDir, resume, observer, cancel);

    /// <summary>
    /// The same with the strategy built by <paramref name="createStrategy"/> from the teacher count K and the
    /// recipe's strategy options. The recipe's strategy name still labels the run (metrics, checkpoint).
    /// </summary>
    public DistillOutcome Run(DistillRecipe recipe, Func<int, StrategyOptions, IWeightingStrategy> createStrategy, string outDir, bool resume,
        IDistillObserver? observer = null, CancellationToken cancel = default)
    {
        recipe.Validate();
        if (recipe.PerPixelWeights)
            throw new MtkdInputException("--per-pixel-weights applies to scenes (segmentation, detection) only: a classification row is already one image");
        if (recipe.ChannelKd is not null)
            throw new MtkdInputException("--channel-kd applies to scenes (segmentation, detection) only: a classification row has no spatial map");
        DistillLossSupport.Require(_backend, recipe.Hyper.Loss);
        var clock = Stopwatch.StartNew();
        var manifest = PoolManifest.Read(_poolDir);
        using var runLock = Job.IsRoot ? FolderLock.Acquire(outDir) : null;
        using var run = Prepare(recipe, createStrategy, outDir);
        if (DistillCheckpoint.Exists(outDir))
        {
            if (!resume)
                throw new MtkdInputException($"{Path.Combine(outDir, DistillCheckpoint.StateJson)}: a run is already there; pass --resume to continue it or choose another --out");
            Resume(run);
        }
        else
        {
            run.Optimizer = run.CreateOptimizer(run.Student);
        }
        Evaluator.CheckFits(_data.Train, run.Student, "student");
        run.StartSteps(Job);
        while (run.Epoch < recipe.Epochs && !cancel.IsCancellationRequested)
        {
            var line = RunEpoch(run, observer);
            observer?.EpochDone(run.Name, line);
        }
        return Summarise(run, manifest, clock);
    }

    /// <summary>Teachers, student, heads, loader, strategy and probe of a fresh run (the optimiser comes with the start or the resume).</summary>
    private RunState Prepare(DistillRecipe recipe, Func<int, StrategyOptions, IWeightingStrategy> createStrategy, string outDir)
    {
        var train = _data.Train;
        var normalization = ChannelNormalization.FromTrainingSplit(train);
        ITeacherSource teachers = recipe.LiveTeachers
            ? new LiveTeachers(_poolDir, _data, normalization, _compute)
            : new CachedTeachers(_poolDir, _data);
        try
        {
            int k = teachers.K, c = teachers.Classes, b = recipe.BatchSize;
            var widths = teachers.Widths.ToArray();
            if (c != train.ClassCount)
                throw new MtkdInputException($"{PoolManifest.PathIn(_poolDir)}: teachers give {c} classes, {train.Name} has {train.ClassCount}");
            var embeddingScale = EmbeddingScale.Measure(teachers, train, normalization);
            var input = SampleShape.Image(train.Channels, train.Height, train.Width);
            var strategy = createStrategy(k, recipe.StrategyOptions(c, widths));
            if (strategy.K != k)
                throw new MtkdInputException($"strategy {strategy.Name}: built for K={strategy.K}, the pool has {k} teachers");

            var (trainRows, probeRows) = SplitProbe(recipe, strategy.NeedsProbeLoss, train.Count);
            if ((trainRows?.Length ?? train.Count) < b)
                throw new MtkdInputException($"{train.Name}: {trainRows?.Length ?? train.Count} training rows, fewer than one batch of {b}");

            var rng = new Rng(recipe.Seed);
            var student = recipe.ParsedStudent().Build(input, c, _compute, rng.Fork());
            var heads = new ProjectionHeads(student.EmbeddingWidth, widths, _compute, rng.Fork());
            var loader = new BatchLoader(train, normalization, BatchLoaderOptions.Training(b, recipe.CropPadding, recipe.HorizontalFlip, dropLast: true), rng.Fork(), trainRows);
            Directory.CreateDirectory(outDir);
            return new RunState(recipe, outDir, teachers, widths, embeddingScale, normalization, strategy, student, heads, loader, _backend)
            {
                Probe = probeRows is null ? null : new ProbeBatch(train, normalization, probeRows),
                StudentConfig = new CheckpointConfig
                {
                    Name = "student",
                    ClassNames = train.ClassNames,
                    Dataset = new DatasetIdentity(_data.Name, _data.FingerprintHex),
                    Normalization = new NormalizationRecord([.. normalization.Mean], [.. normalization.Std]),
                },
            };
        }
        catch
        {
            teachers.Dispose();
            throw;
        }
    }

    /// <summary>Loads the checkpoint in the run's folder after checking it belongs to this recipe, data and pool.</summary>
    private void Resume(RunState run)
    {
        var recipe = run.Recipe;
        var state = DistillCheckpoint.ReadState(run.OutDir);
        state.RequireTask(TaskKind.Classification, run.OutDir);
        string statePath = Path.Combine(run.OutDir, DistillCheckpoint.StateJson);
        // Compared as their strategy sees them: an option that never reached it does not make another run.
        if (state.Recipe.ForStrategy(state.Recipe.Strategy, state.Recipe.Seed) != recipe.ForStrategy(recipe.Strategy, recipe.Seed))
            throw new MtkdInputException($"{statePath}: --resume with another configuration (saved: {Describe(state.Recipe)}; now: {Describe(recipe)})");
        if (state.DatasetFingerprint != _data.FingerprintHex || state.PoolFingerprint != run.Teachers.PoolFingerprint)
            throw new MtkdInputException($"{statePath}: the run was made with another dataset or teacher pool; start it again in a new --out");
        run.Student = DistillCheckpoint.LoadInto(run.OutDir, state, _compute, run.Heads, run.CreateOptimizer, run.Strategy, out var optimizer);
        run.Optimizer = optimizer;
        run.Loader.Restore(new LoaderState(state.Loader!.RngState, state.Loader.Epoch, state.Loader.NextBatch));
        run.Step = state.Step;
        run.Epoch = state.Epoch;
        run.Metrics.AddRange(JsonFiles.ReadLines<DistillEpochMetrics>(run.MetricsPath).Where(m => m.Epoch <= run.Epoch));
        run.AgentLines.AddRange(JsonFiles.ReadLines<JsonElement>(run.AgentPath)
            .Where(l => l.ValueKind == JsonValueKind.Object && l.TryGetProperty("epoch", out var e) && e.TryGetInt32(out int n) && n <= run.Epoch));
        run.Resumed = true;
    }

    /// <summary>One epoch: every batch, the strategy's epoch-end update, the test evaluation, the checkpoint and the metrics line.</summary>
    private DistillEpochMetrics RunEpoch(RunState run, IDistillObserver? observer)
    {
        var recipe = run.Recipe;
        var strategy = run.Strategy;
        int k = run.K;
        var epochClock = Stopwatch.StartNew();
        observer?.EpochStarted(run.Name, run.Epoch + 1, recipe.Epochs, run.Loader.BatchesPerEpoch);
        var sumWl = new double[k];
        var sumWf = new double[k];
        double lossSum = 0, strategySeconds = 0;
        long seen = 0, correct = 0;
        int batchIndex = 0;
        var fields = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        var onBest = new WeightOnBest();
        double probeLoss = run.Probe?.Loss(run.Student) ?? double.NaN;
        var batch = run.Batch;
        var (wl, wf) = (run.Wl, run.Wf);
        while (run.Loader.TryNext(batch))
        {
            int n = batch.Count;
            var labels = batch.LabelBuffer.AsSpan(0, n);
            double loss = run.Shard is { } shard
                ? ShardStep(run, shard, batch, labels, ref strategySeconds, ref correct)
                : strategy.UsesTeachers
                ? TeacherStep(run, batch, labels, ref strategySeconds, ref correct)
                : StudentAloneStep(run, batch, labels, ref correct);
            if (!double.IsFinite(loss))
                throw new MtkdException($"{run.Name}: training diverged at epoch {run.Epoch + 1}, step {run.Step} (loss {loss}); lower the learning rate");
            run.Optimizer.LearningRate = run.Schedule.At(run.Step);
            run.Optimizer.Step();
            run.Step++;
            if (CheckReplicas) run.Shard?.CheckReplicas(run.Student.NamedTensors.Concat(run.Heads.Parameters), run.Name, run.Step);
            double probeBefore = probeLoss;
            if (run.Probe is not null) probeLoss = run.Probe.Loss(run.Student);
            var learnClock = Stopwatch.StartNew();
            var log = strategy.Learn(run.Shard is { } whole
                ? whole.FeedbackFor(labels, recipe.Beta, probeBefore, probeLoss)
                : run.Distill.FeedbackFor(labels, recipe.Beta, probeBefore, probeLoss));
            strategySeconds += learnClock.Elapsed.TotalSeconds;
            if (log is not null) Record(run, fields, log);
            if (strategy.UsesTeachers) onBest.Add(wl.AsSpan(0, n * k), (run.Shard?.WholeStats ?? run.Distill.Stats).CeT.AsSpan(0, n * k), labels, k);
            for (int i = 0; i < n * k; i++)
            {
                sumWl[i % k] += wl[i];
                sumWf[i % k] += wf[i];
            }
            lossSum += loss * n;
            seen += n;
            observer?.BatchDone(run.Name, ++batchIndex, loss);
        }
        var endClock = Stopwatch.StartNew();
        var endLog = strategy.EndEpoch();
        strategySeconds += endClock.Elapsed.TotalSeconds;
        if (endLog is not null) Record(run, fields, endLog);
        double trainSeconds = epochClock.Elapsed.TotalSeconds;
        run.Epoch++;
        // Ranks other than 0 hold the same weights and write nothing: only rank 0 evaluates and saves.
        double testAccuracy = Job.IsRoot ? Evaluator.Run(run.Student, _data.Test, run.Normalization, "student").Accuracy : double.NaN;
        if (Job.IsRoot) SaveCheckpoint(run, testAccuracy);
        var line = new DistillEpochMetrics(recipe.Strategy, recipe.Seed, run.Epoch, run.Step, lossSum / seen, (double)correct / seen, testAccuracy,
            run.Optimizer.LearningRate, trainSeconds, strategySeconds, epochClock.Elapsed.TotalSeconds, seen / trainSeconds,
            [.. sumWl.Select(v => (float)(v / seen))], [.. sumWf.Select(v => (float)(v / seen))],
            Mean(fields, AgentUpdateLog.MeanRewardField), onBest.TakeMean())
        {
            Extra = WithCommunication(ExtraFields(fields), run.Shard),
        };
        run.Metrics.Add(line);
        if (!Job.IsRoot) return line;
        JsonFiles.WriteLines(run.MetricsPath, run.Metrics);
        JsonFiles.WriteLines(run.AgentPath, run.AgentLines);
        return line;
    }

    /// <summary>A student trained on the labels alone: cross-entropy, no teachers, every weight 0.</summary>
    private static double StudentAloneStep(RunState run, ImageBatch batch, ReadOnlySpan<int> labels, ref long correct)
    {
        int n = batch.Count, c = run.C;
        run.Student.Forward(batch.Images, n, training: true);
        double loss = SoftmaxCrossEntropy.Compute(run.Student.Logits, labels, c, run.GradLogits);
        correct += Accuracy.CountCorrect(run.Student.Logits, labels, c);
        run.Student.Backward(run.GradLogits);
        Array.Clear(run.Wl);
        Array.Clear(run.Wf);
        return loss;
    }

    /// <summary>
    /// One distillation step: the teachers' outputs for the batch, then either stats pass, the strategy's weights and
    /// gradient pass (a strategy that reads the statistics) or the weights first and one fused sweep.
    /// </summary>
    private static double TeacherStep(RunState run, ImageBatch batch, ReadOnlySpan<int> labels, ref double strategySeconds, ref long correct)
    {
        int n = batch.Count;
        var distill = run.Distill;
        var strategy = run.Strategy;
        run.Teachers.Fill(batch.IndexBuffer.AsSpan(0, n), batch.Images, n, distill.TeacherLogits, distill.TeacherEmbeddings);
        EmbeddingScale.Apply(distill.TeacherEmbeddings, n, run.Widths, run.EmbeddingScale);
        var strategyClock = Stopwatch.StartNew();
        if (strategy.NeedsStats)
        {
            strategyClock.Stop();
            distill.Forward(batch.Images, labels);
            strategyClock.Start();
            strategy.Weights(distill.ContextFor(strategy, labels), run.Wl, run.Wf);
            strategyClock.Stop();
            distill.Backward(run.Wl, run.Wf);
        }
        else
        {
            strategy.Weights(distill.ContextFor(strategy, labels), run.Wl, run.Wf);
            strategyClock.Stop();
            distill.RunFused(batch.Images, labels, run.Wl, run.Wf);
        }
        strategySeconds += strategyClock.Elapsed.TotalSeconds;
        correct += Accuracy.CountCorrect(distill.StudentLogits, labels, run.C);
        return distill.Loss;
    }

    private void SaveCheckpoint(RunState run, double testAccuracy)
    {
        var loaderState = run.Loader.State;
        DistillCheckpoint.Save(run.OutDir, run.Student, run.StudentConfig with { Epoch = run.Epoch, Step = run.Step, TestAccuracy = testAccuracy }, run.Heads,
            run.Optimizer, run.Strategy, new DistillState
            {
                Recipe = run.Recipe,
                DatasetFingerprint = _data.FingerprintHex,
                PoolFingerprint = run.Teachers.PoolFingerprint,
                Epoch = run.Epoch,
                Step = run.Step,
                Loader = new LoaderRecord(loaderState.RngState, loaderState.Epoch, loaderState.NextBatch),
            });
    }

    /// <summary>summary.json once every epoch is done, and the outcome either way.</summary>
    private DistillOutcome Summarise(RunState run, PoolManifest manifest, Stopwatch clock)
    {
        var recipe = run.Recipe;
        var metrics = run.Metrics;
        var summary = new DistillSummary(recipe.Strategy, recipe.Seed, recipe.Student, run.Epoch,
            metrics.Count > 0 ? metrics[^1].TestAcc : double.NaN, metrics.Count > 0 ? metrics.Max(m => m.TestAcc) : double.NaN,
            metrics.Count > 0 ? metrics.Average(m => m.TrainSeconds) : double.NaN,
            metrics.Count > 0 ? metrics.Average(m => m.StrategySeconds) : double.NaN,
            [.. manifest.Teachers.Select(t => t.Name)], [.. manifest.Teachers.Select(t => t.TestAccuracy)], _backendName,
            clock.Elapsed.TotalSeconds)
        {
            FinalTrainAcc = metrics.Count > 0 ? metrics[^1].TrainAcc : double.NaN,
            KdLoss = recipe.KdLoss,
            FeatureLoss = recipe.FeatureLoss,
        };
        if (metrics.Count > 0 && run.Strategy.UsesTeachers)
            summary = summary with { Warning = PoolWarning(summary.FinalTrainAcc) };
        if (run.Epoch >= recipe.Epochs && Job.IsRoot) JsonFiles.Write(Path.Combine(run.OutDir, "summary.json"), summary);
        return new DistillOutcome(summary, metrics, run.Resumed);
    }

    /// <summary>The weak-pool line for this trainer's runs; the teachers' accuracies are read from the cache once per trainer.</summary>
    private string? PoolWarning(double studentTrainAcc)
    {
        if (!double.IsFinite(studentTrainAcc)) return null;
        _teacherTrainAccuracies ??= TeacherTrainAccuracies(_poolDir, _data);
        return _teacherTrainAccuracies is null ? null : PoolStrength.WeakPoolWarning(_teacherTrainAccuracies, studentTrainAcc);
    }

    /// <summary>
    /// The weak-pool line for a student at <paramref name="studentTrainAcc"/> on the training split, from the
    /// teachers' cached training outputs; null when a teacher is a point above it or the pool has no training cache.
    /// </summary>
    public static string? PoolWarning(string poolDir, ImageDataset data, double studentTrainAcc) =>
        double.IsFinite(studentTrainAcc) && TeacherTrainAccuracies(poolDir, data) is { } teachers
            ? PoolStrength.WeakPoolWarning(teachers, studentTrainAcc)
            : null;

    /// <summary>Each teacher's accuracy on the training split from the pool's training cache; null without one.</summary>
    private static IReadOnlyList<TeacherCompetence>? TeacherTrainAccuracies(string poolDir, ImageDataset data)
    {
        if (!File.Exists(TeacherCache.PathOf(poolDir, "train"))) return null;
        using var cache = TeacherCache.Open(poolDir, "train", data);
        return PoolStrength.TrainAccuracies(cache, data.Train.Labels);
    }

    /// <summary>Rows held out for the probe reward (a seeded choice) and the rows left for training; (null, null) without a probe.</summary>
    private static (int[]? Train, int[]? Probe) SplitProbe(DistillRecipe recipe, bool probe, int rows)
    {
        if (!probe) return (null, null);
        if (recipe.ProbeRows < 1) throw new MtkdInputException($"probe rows must be at least 1 (got {recipe.ProbeRows})");
        if (recipe.ProbeRows >= rows) throw new MtkdInputException($"probe rows ({recipe.ProbeRows}) must be fewer than the {rows} training rows");
        var order = Enumerable.Range(0, rows).ToArray();
        new Rng(recipe.Seed ^ ProbeSalt).Shuffle<int>(order);
        var held = order[..recipe.ProbeRows];
        var rest = order[recipe.ProbeRows..];
        Array.Sort(held);
        Array.Sort(rest);
        return (rest, held);
    }

    /// <summary>Adds an update log to agent.jsonl's lines and its finite metric fields to the epoch's lists.</summary>
    private static void Record(RunState run, Dictionary<string, List<double>> fields, AgentUpdateLog log)
    {
        foreach (var (key, value) in log.MetricFields())
        {
            if (!double.IsFinite(value)) continue;
            if (!fields.TryGetValue(key, out var values)) fields[key] = values = [];
            values.Add(value);
        }
        var body = JsonSerializer.SerializeToElement(log, log.GetType(), JsonFiles.Compact);
        run.AgentLines.Add(JsonSerializer.SerializeToElement(new { epoch = run.Epoch + 1, log = body }, JsonFiles.Compact));
    }

    private static double? Mean(Dictionary<string, List<double>> fields, string key) =>
        fields.TryGetValue(key, out var values) && values.Count > 0 ? values.Average() : null;

    /// <summary>The epoch means of the metric fields other than mean_reward (null when there are none).</summary>
    private static Dictionary<string, object>? ExtraFields(Dictionary<string, List<double>> fields)
    {
        var extra = fields.Where(f => f.Key != AgentUpdateLog.MeanRewardField && f.Value.Count > 0)
            .ToDictionary(f => f.Key, f => (object)f.Value.Average(), StringComparer.Ordinal);
        return extra.Count > 0 ? extra : null;
    }

    private static string Describe(DistillRecipe r) =>
        $"{r.Student}, {r.Strategy}{(r.Dynamic ? " --dynamic" : "")}, {r.Epochs} epochs, batch {r.BatchSize}, {r.Optimizer} lr {r.LearningRate}, seed {r.Seed}" +
        (r.Hyper.Loss.IsDefault ? "" : $", --kd-loss {r.KdLoss} --feature-loss {r.FeatureLoss}");

    /// <summary>Everything one run holds between its epochs.</summary>
    private sealed class RunState(
        DistillRecipe recipe, string outDir, ITeacherSource teachers, int[] widths, float[] embeddingScale,
        ChannelNormalization normalization, IWeightingStrategy strategy, Model student, ProjectionHeads heads, BatchLoader loader,
        IDistillBackend backend) : IDisposable
    {
        private DistillStep? _distill;

        public DistillRecipe Recipe { get; } = recipe;
        public string OutDir { get; } = outDir;
        public string Name { get; } = $"{recipe.Strategy}/seed{recipe.Seed}";
        public string MetricsPath { get; } = Path.Combine(outDir, "metrics.jsonl");
        public string AgentPath { get; } = Path.Combine(outDir, "agent.jsonl");
        public ITeacherSource Teachers { get; } = teachers;
        public int K { get; } = teachers.K;
        public int C { get; } = teachers.Classes;
        public int[] Widths { get; } = widths;
        public float[] EmbeddingScale { get; } = embeddingScale;
        public ChannelNormalization Normalization { get; } = normalization;
        public IWeightingStrategy Strategy { get; } = strategy;
        public Model Student { get; set; } = student;
        public ProjectionHeads Heads { get; } = heads;
        public BatchLoader Loader { get; } = loader;
        public Optimizer Optimizer { get; set; } = null!;
        public ProbeBatch? Probe { get; init; }
        public required CheckpointConfig StudentConfig { get; init; }
        public long Step { get; set; }
        public int Epoch { get; set; }
        public bool Resumed { get; set; }
        public List<DistillEpochMetrics> Metrics { get; } = [];
        public List<JsonElement> AgentLines { get; } = [];

        public DistillStep Distill => _distill ?? throw new InvalidOperationException("StartSteps first");
        public LearningRateSchedule Schedule { get; private set; } = null!;
        public ImageBatch Batch { get; private set; } = null!;
        public float[] Wl { get; private set; } = [];
        public float[] Wf { get; private set; } = [];
        public float[] GradLogits { get; private set; } = [];

        /// <summary>The optimiser over the student, and the projection heads when the strategy uses the teachers.</summary>
        public Optimizer CreateOptimizer(Model m) =>
            Recipe.CreateOptimizer(Strategy.UsesTeachers ? m.Parameters.Concat(Heads.Parameters) : m.Parameters);

        /// <summary>This rank's share of a data-parallel step; null in a single process.</summary>
        public DataParallelShard? Shard { get; private set; }

        /// <summary>The step and its buffers, once the student is final (fresh or loaded); over several ranks, a step of this rank's rows.</summary>
        public void StartSteps(ICommunicator job)
        {
            int b = Recipe.BatchSize;
            if (job.Size > 1) Shard = new DataParallelShard(job, b, C, Widths);
            _distill = new DistillStep(Student, Heads, backend, Shard?.LocalRows ?? b, C, Recipe.Hyper);
            Schedule = Recipe.CreateSchedule(Loader.BatchesPerEpoch);
            Batch = Loader.CreateBatch();
            Wl = new float[b * K];
            Wf = new float[b * K];
            GradLogits = new float[b * C];
        }

        public void Dispose()
        {
            _distill?.Dispose();
            Teachers.Dispose();
        }
    }
}
