using System.Diagnostics;
using MtkdRl.Core;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Scenes;
using MtkdRl.Reports.Metrics;
using MtkdRl.Training;

namespace MtkdRl.Teachers;

/// <summary>A trained segmentation network, its test scores and how long it took.</summary>
public sealed record SegmentationOutcome(SegmentationModel Model, ChannelNormalization Normalization, SegmentationMetrics Test, double Seconds);

/// <summary>
/// Trains a unet or fcn on a scenes dataset with per-pixel cross-entropy (ignore value 255), the recipe's
/// optimiser and cosine schedule as for classification teachers; the recipe's subset is a number of canvases,
/// its flip mirrors canvas and mask together. Each epoch ends with a test evaluation (mIoU, pixel accuracy)
/// reported to the observer (test_acc holds the mIoU, train_acc the training pixel accuracy) and, with a metrics
/// path, written as one more line of that file (<see cref="EpochMetrics"/>, rewritten whole each epoch, so the file
/// holds this training's epochs only). The network is saved once, at the end.
/// </summary>
public sealed class SegmentationTrainer(SceneDataset data, CpuCompute compute)
{
    public SegmentationOutcome Train(string name, TrainingRecipe recipe, string checkpoint, ITrainingObserver? observer = null,
        string? metricsPath = null)
    {
        recipe.Validate($"teacher '{name}'");
        var spec = recipe.ParsedSpec($"teacher '{name}'");
        SegmentationPool.RequireSegmentationSpec(spec, $"teacher '{name}'");
        var clock = Stopwatch.StartNew();
        var train = data.Train;
        var rng = new Rng(recipe.Seed);
        var input = SampleShape.Image(train.Channels, train.Canvas, train.Canvas);
        int classes = data.ClassCount + 1;
        var model = spec.BuildSegmentation(input, classes, compute, rng.Fork());
        if (recipe.Backbone is not null) BackboneInit.Apply(model.NamedTensors, recipe.Backbone, compute);
        var norm = SceneInputs.Normalization(train);
        var order = rng.Fork();
        var rows = Enumerable.Range(0, train.Count).ToArray();
        if (recipe.SubsetSize > 0 && recipe.SubsetSize < train.Count)
        {
            order.Shuffle(rows.AsSpan());
            rows = rows[..recipe.SubsetSize];
            Array.Sort(rows);
        }
        int B = Math.Min(recipe.BatchSize, rows.Length);
        int batches = SupervisedTrainer.BatchesPerEpoch(rows.Length, B);
        var optimizer = recipe.CreateOptimizer(model.Parameters);
        var schedule = recipe.CreateSchedule(batches);
        var loss = new PixelCrossEntropy(classes, model.Pixels);
        var x = new float[B * input.Size];
        var masks = new byte[B * model.Pixels];
        var predicted = new byte[B * model.Pixels];
        var grad = new float[B * classes * model.Pixels];
        var mirror = new bool[B];
        SegmentationMetrics test = null!;
        var lines = new List<EpochMetrics>();
        for (int epoch = 1; epoch <= recipe.Epochs; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            observer?.EpochStarted(name, epoch, recipe.Epochs, batches);
            order.Shuffle(rows.AsSpan());
            double lossSum = 0;
            var trainMatrix = new ConfusionMatrix(classes);
            for (int b = 0; b < batches; b++)
            {
                int n = Math.Min(B, rows.Length - b * B);
                for (int i = 0; i < n; i++) mirror[i] = recipe.HorizontalFlip && order.NextDouble() < 0.5;
                SceneInputs.Fill(train, norm, rows.AsSpan(b * B, n), x, masks, mirror.AsSpan(0, n));
                optimizer.LearningRate = schedule.At(optimizer.StepCount);
                model.Forward(x.AsSpan(0, n * input.Size), n, training: true);
                double l = loss.Compute(model.Logits, masks, n, grad);
                model.Backward(grad.AsSpan(0, n * classes * model.Pixels));
                optimizer.Step();
                model.Predict(predicted.AsSpan(0, n * model.Pixels));
                trainMatrix.Add(predicted.AsSpan(0, n * model.Pixels), masks.AsSpan(0, n * model.Pixels));
                lossSum += l;
                observer?.BatchDone(name, b + 1, l);
            }
            double samplesPerS = batches * (double)B / Math.Max(1e-9, epochClock.Elapsed.TotalSeconds);
            test = SegmentationEvaluator.Evaluate(model, data.Test, norm);
            var line = new EpochMetrics(name, epoch, optimizer.StepCount, lossSum / batches, trainMatrix.PixelAccuracy(), test.MeanIoU,
                optimizer.LearningRate, epochClock.Elapsed.TotalSeconds, samplesPerS);
            lines.Add(line);
            if (metricsPath is not null) JsonFiles.WriteLines(metricsPath, lines);
            observer?.EpochDone(line);
        }
        SegmentationCheckpoint.Save(checkpoint, model, new CheckpointConfig
        {
            Name = name,
            ClassNames = ["background", .. data.Descriptor.Classes],
            Dataset = SegmentationPool.Identity(data),
            Normalization = new NormalizationRecord([.. norm.Mean], [.. norm.Std]),
            Epoch = recipe.Epochs,
            Step = optimizer.StepCount,
            Recipe = recipe,
            TestAccuracy = test.MeanIoU,
        });
        return new SegmentationOutcome(model, norm, test, clock.Elapsed.TotalSeconds);
    }
}
