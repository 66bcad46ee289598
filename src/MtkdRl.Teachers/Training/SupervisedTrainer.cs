using System.Diagnostics;
using System.Text.Json;
using MtkdRl.Core;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Datasets;
using MtkdRl.Training;

namespace MtkdRl.Teachers;

/// <summary>How a <see cref="SupervisedTrainer.Train"/> call ended.</summary>
public sealed record TrainingOutcome(
    string Name, Model Model, CheckpointConfig Checkpoint, IReadOnlyList<EpochMetrics> Metrics, bool Completed, bool Resumed, double Seconds);

/// <summary>
/// Trains one model with softmax cross-entropy on a dataset's training split: shuffled (optionally augmented)
/// batches, the recipe's optimiser and per-step schedule, an eval-mode pass over the test split after the epochs
/// that <see cref="ScoresTestSplit"/> picks (every epoch unless the test split is large against the training rows;
/// always the last), one metrics line per epoch, and a checkpoint per epoch that holds everything an exact resume needs
/// (weights, optimiser state, loader and dropout generator states, the step count). Resuming from it gives
/// bit-for-bit the run that was never interrupted, for the same CpuCompute thread count.
/// </summary>
public sealed class SupervisedTrainer
{
    /// <summary>Seeds the choice of a subset teacher's rows apart from the model's and loader's streams.</summary>
    private const ulong SubsetSalt = 0x5B5E_7000_0000_0001UL;

    private readonly ImageDataset _data;
    private readonly CpuCompute _compute;

    public SupervisedTrainer(ImageDataset data, CpuCompute compute)
    {
        _data = data;
        _compute = compute;
    }

    /// <summary>The rows a recipe trains on (null: all): a seeded random choice, so a resume picks the same ones.</summary>
    public static int[]? SubsetRows(TrainingRecipe recipe, int trainRows)
    {
        if (recipe.SubsetSize == 0 || recipe.SubsetSize >= trainRows) return null;
        var rows = Enumerable.Range(0, trainRows).ToArray();
        new Rng(recipe.Seed ^ SubsetSalt).Shuffle<int>(rows);
        var chosen = rows[..recipe.SubsetSize];
        Array.Sort(chosen);
        return chosen;
    }

    /// <summary>
    /// The rows a recipe trains on, given the training labels: its class filter (<see cref="TrainingRecipe.Classes"/>)
    /// first, then its random subset of what is left. Null: every row.
    /// </summary>
    public static int[]? TrainingRows(TrainingRecipe recipe, ReadOnlySpan<int> labels, int classCount, string who)
    {
        var classes = recipe.ParsedClasses(who, classCount);
        if (classes is null) return SubsetRows(recipe, labels.Length);
        var keep = new bool[classCount];
        foreach (int c in classes) keep[c] = true;
        var rows = new List<int>();
        for (int i = 0; i < labels.Length; i++) if (keep[labels[i]]) rows.Add(i);
        if (rows.Count == 0) throw new MtkdInputException($"{who}: no training row has one of the classes {recipe.Classes}");
        var within = SubsetRows(recipe, rows.Count);
        return within is null ? [.. rows] : [.. within.Select(i => rows[i])];
    }

    /// <summary>
    /// Test rows scored at most per training row seen: a quarter, so scoring (one forward pass per row) costs under a
    /// tenth of training (forward, backward and update) wherever the test split is large against an epoch.
    /// </summary>
    public const double TestRowsPerTrainingRow = 0.25;

    /// <summary>
    /// Whether the epoch just ended (<paramref name="epoch"/> of <paramref name="epochs"/>, which took the training rows
    /// seen from <paramref name="rowsBefore"/> to <paramref name="rowsAfter"/>) scores the test split: the last one
    /// always; another when the test rows <see cref="TestRowsPerTrainingRow"/> allows for the rows seen reach one more
    /// whole test split during it, so the splits scored stay within that share. On 60,000 training and 10,000 test
    /// images that is every epoch; on 1,000 training images (batches of 128, 2,400 steps, 343 epochs) about every 45th.
    /// It depends on the step count alone, so a resumed run scores the epochs the uninterrupted one would; scoring
    /// changes no weight and no random stream.
    /// </summary>
    public static bool ScoresTestSplit(int epoch, int epochs, long rowsBefore, long rowsAfter, int testRows) =>
        epoch >= epochs || SplitsAllowed(rowsAfter, testRows) > SplitsAllowed(rowsBefore, testRows);

    private static long SplitsAllowed(long rows, int testRows) => (long)Math.Floor(TestRowsPerTrainingRow * rows / testRows);

    /// <summary>
    /// Whether an epoch over <paramref name="rows"/> drops its ragged last batch: it does unless that would leave
    /// too few batches, since BatchNorm statistics of a handful of rows are noise.
    /// </summary>
    public static bool DropsLastBatch(int rows, int batchSize) => rows >= 2 * batchSize;

    /// <summary>Optimiser steps in one epoch over <paramref name="rows"/> rows.</summary>
    public static int BatchesPerEpoch(int rows, int batchSize) =>
        DropsLastBatch(rows, batchSize) ? rows / batchSize : Math.Max(1, (rows + batchSize - 1) / batchSize);

    /// <summary>
    /// Trains <paramref name="name"/> by <paramref name="recipe"/>, checkpointing to CHECKPOINT.json/.safetensors
    /// after each epoch and writing metrics lines to <paramref name="metricsPath"/> (rewritten atomically each
    /// epoch). An existing checkpoint for the same recipe and dataset is resumed; one for another recipe or
    /// dataset is refused. Cancellation is honoured between epochs, after the checkpoint.
    /// </summary>
    public TrainingOutcome Train(string name, TrainingRecipe recipe, string checkpoint, string? metricsPath = null,
        ITrainingObserver? observer = null, CancellationToken cancel = default)
    {
        recipe.Validate($"teacher '{name}'");
        var clock = Stopwatch.StartNew();
        var spec = recipe.ParsedSpec($"teacher '{name}'");
        var train = _data.Train;
        var dataset = new DatasetIdentity(_data.Name, _data.FingerprintHex);
        var normalization = ChannelNormalization.FromTrainingSplit(train);
        var input = SampleShape.Image(train.Channels, train.Height, train.Width);

        int[]? rows = TrainingRows(recipe, train.Labels, train.ClassCount, $"teacher '{name}'");
        int rowCount = rows?.Length ?? train.Count;
        bool dropLast = DropsLastBatch(rowCount, recipe.BatchSize);
        var options = BatchLoaderOptions.Training(recipe.BatchSize, recipe.CropPadding, recipe.HorizontalFlip, dropLast);

        var rng = new Rng(recipe.Seed);
        Model model;
        Optimizer optimizer;
        BatchLoader loader;
        long step = 0;
        int epoch = 0;
        var metrics = new List<EpochMetrics>();
        bool resumed = false;
        CheckpointConfig config;
        string configPath = Checkpoint.ConfigPathOf(checkpoint);
        if (File.Exists(configPath))
        {
            var saved = Checkpoint.Load(configPath, _compute);
            config = saved.Config;
            if (config.Recipe != recipe)
                throw new MtkdInputException(
                    $"{configPath}: was trained with another recipe ({Describe(config.Recipe)}), not {Describe(recipe)}; delete it to start over");
            if (config.Dataset != dataset)
                throw new MtkdInputException(
                    $"{configPath}: was trained on {config.Dataset.Name} ({config.Dataset.ShortFingerprint}), the data now is {dataset.Name} ({dataset.ShortFingerprint})");
            model = saved.Model;
            Evaluator.CheckFits(train, model, name);
            optimizer = recipe.CreateOptimizer(model);
            if (saved.OptimizerState is null || config.Loader is null)
                throw new MtkdInputException($"{configPath}: holds no optimizer or loader state to resume from");
            try { optimizer.ImportState(saved.OptimizerState); }
            catch (MtkdInputException e) { throw new MtkdInputException($"{saved.WeightsPath}: {e.Message}"); }
            rng.Fork();
            loader = new BatchLoader(train, normalization, options, rng.Fork(), rows);
            loader.Restore(new LoaderState(config.Loader.RngState, config.Loader.Epoch, config.Loader.NextBatch));
            step = config.Step;
            epoch = config.Epoch;
            metrics.AddRange(ReadMetrics(metricsPath, name, epoch));
            resumed = true;
        }
        else
        {
            model = spec.Build(input, train.ClassCount, _compute, rng.Fork());
            optimizer = recipe.CreateOptimizer(model);
            loader = new BatchLoader(train, normalization, options, rng.Fork(), rows);
            config = new CheckpointConfig
            {
                Name = name,
                ClassNames = train.ClassNames,
                Dataset = dataset,
                Normalization = new NormalizationRecord([.. normalization.Mean], [.. normalization.Std]),
                Recipe = recipe,
            };
        }

        var schedule = recipe.CreateSchedule(loader.BatchesPerEpoch);
        var batch = loader.CreateBatch();
        int C = model.Classes;
        var gradLogits = new float[recipe.BatchSize * C];
        double? testAccuracy = config.TestAccuracy;
        while (epoch < recipe.Epochs && !cancel.IsCancellationRequested)
        {
            var epochClock = Stopwatch.StartNew();
            long firstStep = step;
            observer?.EpochStarted(name, epoch + 1, recipe.Epochs, loader.BatchesPerEpoch);
            double lossSum = 0;
            long seen = 0, correct = 0;
            int batchIndex = 0;
            while (loader.TryNext(batch))
            {
                int n = batch.Count;
                model.Forward(batch.Images, n, training: true);
                correct += Accuracy.CountCorrect(model.Logits, batch.Labels, C);
                double loss = SoftmaxCrossEntropy.Compute(model.Logits, batch.Labels, C, gradLogits.AsSpan(0, n * C));
                if (!double.IsFinite(loss))
                    throw new MtkdException($"teacher '{name}': training diverged at epoch {epoch + 1}, step {step} (loss {loss}); lower the learning rate");
                model.Backward(gradLogits.AsSpan(0, n * C));
                optimizer.LearningRate = schedule.At(step);
                optimizer.Step();
                step++;
                lossSum += loss * n;
                seen += n;
                observer?.BatchDone(name, ++batchIndex, loss);
            }
            double trainSeconds = epochClock.Elapsed.TotalSeconds;
            epoch++;
            bool scored = ScoresTestSplit(epoch, recipe.Epochs, firstStep * recipe.BatchSize, step * recipe.BatchSize, _data.Test.Count);
            if (scored) testAccuracy = Evaluator.Run(model, _data.Test, normalization, name).Accuracy;
            var state = loader.State;
            config = Checkpoint.Save(checkpoint, model, config with
            {
                Epoch = epoch,
                Step = step,
                Loader = new LoaderRecord(state.RngState, state.Epoch, state.NextBatch),
                TestAccuracy = testAccuracy,
            }, optimizer);
            var line = new EpochMetrics(name, epoch, step, lossSum / seen, (double)correct / seen, scored ? testAccuracy : null,
                optimizer.LearningRate, epochClock.Elapsed.TotalSeconds, seen / trainSeconds);
            metrics.Add(line);
            if (metricsPath is not null) JsonFiles.WriteLines(metricsPath, metrics);
            observer?.EpochDone(line);
        }
        return new TrainingOutcome(name, model, config, metrics, epoch >= recipe.Epochs, resumed, clock.Elapsed.TotalSeconds);
    }

    private static string Describe(TrainingRecipe? r) => r is null
        ? "no recipe"
        : $"{r.Spec}, {r.Epochs} epochs, batch {r.BatchSize}, {r.Optimizer} lr {r.LearningRate}, seed {r.Seed}{(r.SubsetSize > 0 ? $", subset {r.SubsetSize}" : "")}{(r.Classes is null ? "" : $", classes {r.Classes}")}";

    /// <summary>The metrics lines of epochs up to <paramref name="epochs"/> from an earlier, interrupted run.</summary>
    private static IEnumerable<EpochMetrics> ReadMetrics(string? path, string name, int epochs) =>
        path is null ? [] : JsonFiles.ReadLines<EpochMetrics>(path).Where(m => m.Model == name && m.Epoch <= epochs);
}
