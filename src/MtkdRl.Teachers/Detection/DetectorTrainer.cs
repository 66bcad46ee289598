using System.Diagnostics;
using MtkdRl.Core;
using MtkdRl.Training;

namespace MtkdRl.Teachers;

/// <summary>How a <see cref="DetectorTrainer.Train"/> call ended; <see cref="TestAp"/> is the last epoch's COCO AP on the test split.</summary>
public sealed record DetectorOutcome(string Name, Detector Detector, CheckpointConfig Checkpoint, bool Completed, bool Resumed, double Seconds, double TestAp);

/// <summary>
/// Trains one detector on scenes with <see cref="DetectionLoss"/>: every epoch visits the training images (or
/// the recipe's subset) in an order drawn from the recipe's seed and the epoch, each mirrored with probability
/// 1/2 when the recipe flips, then scores the test split (COCO AP) and checkpoints weights, optimiser state and
/// the step, so a resumed run continues the same one: the order and flips of an epoch depend on the seed and
/// the epoch alone. Metrics lines (NAME.metrics.jsonl) reuse <see cref="EpochMetrics"/>: train_acc is the
/// training locations' class accuracy, test_acc the test AP.
/// </summary>
public sealed class DetectorTrainer(DetectionScenes scenes, CpuCompute compute)
{
    private const ulong OrderSalt = 0xD37E_C700_0000_0001UL;

    public DetectorOutcome Train(string name, TrainingRecipe recipe, string checkpoint, string? metricsPath = null,
        ITrainingObserver? observer = null, CancellationToken cancel = default)
    {
        string who = $"teacher '{name}'";
        recipe.Validate(who);
        var spec = recipe.ParsedSpec(who);
        if (spec.Family != ModelFamily.Det) throw new MtkdInputException($"{who}: spec '{recipe.Spec}' is not a detector (det:...)");
        var clock = Stopwatch.StartNew();
        var identity = new DatasetIdentity(scenes.Name, scenes.FingerprintHex);
        var (mean, std) = scenes.Normalization();
        var rng = new Rng(recipe.Seed);
        Detector detector;
        Optimizer optimizer;
        long step = 0;
        int epoch = 0;
        bool resumed = false;
        CheckpointConfig config;
        var metrics = new List<EpochMetrics>();
        string configPath = Checkpoint.ConfigPathOf(checkpoint);
        if (File.Exists(configPath))
        {
            var saved = DetectorCheckpoint.Load(configPath, compute);
            config = saved.Config;
            if (config.Recipe != recipe)
                throw new MtkdInputException($"{configPath}: was trained with another recipe; delete it to start over");
            if (config.Dataset != identity)
                throw new MtkdInputException($"{configPath}: was trained on {config.Dataset.Name} ({config.Dataset.ShortFingerprint}), the scenes now are {identity.Name} ({identity.ShortFingerprint})");
            detector = saved.Detector;
            optimizer = recipe.CreateOptimizer(detector.Parameters);
            if (saved.OptimizerState is null) throw new MtkdInputException($"{configPath}: holds no optimizer state to resume from");
            optimizer.ImportState(saved.OptimizerState);
            step = config.Step;
            epoch = config.Epoch;
            if (metricsPath is not null && File.Exists(metricsPath))
                metrics.AddRange(JsonFiles.ReadLines<EpochMetrics>(metricsPath).Where(m => m.Model == name && m.Epoch <= epoch));
            resumed = true;
        }
        else
        {
            detector = spec.BuildDetector(scenes.InputShape, scenes.ClassCount, compute, rng.Fork());
            if (recipe.Backbone is not null) BackboneInit.Apply(detector.NamedTensors, recipe.Backbone, compute);
            optimizer = recipe.CreateOptimizer(detector.Parameters);
            config = new CheckpointConfig
            {
                Name = name,
                ClassNames = scenes.Descriptor.Classes,
                Dataset = identity,
                Normalization = new NormalizationRecord(mean, std),
                Recipe = recipe,
            };
        }

        var rows = SupervisedTrainer.SubsetRows(recipe, scenes.Train.Count) ?? Enumerable.Range(0, scenes.Train.Count).ToArray();
        int B = recipe.BatchSize, L = detector.Locations, K = detector.ClassColumns, size = detector.InputShape.Size;
        int batches = SupervisedTrainer.BatchesPerEpoch(rows.Length, B);
        var schedule = recipe.CreateSchedule(batches);
        var x = new float[B * size];
        var labels = new int[B * L];
        var targets = new float[B * L * BoxCoding.Outputs];
        var gradClass = new float[B * L * K];
        var gradBox = new float[B * L * BoxCoding.Outputs];
        double testAp = config.TestAccuracy ?? 0;
        while (epoch < recipe.Epochs && !cancel.IsCancellationRequested)
        {
            var epochClock = Stopwatch.StartNew();
            observer?.EpochStarted(name, epoch + 1, recipe.Epochs, batches);
            var order = (int[])rows.Clone();
            var epochRng = new Rng(recipe.Seed ^ OrderSalt ^ (ulong)epoch * 0x9E37_79B9_7F4A_7C15UL);
            epochRng.Shuffle<int>(order);
            double lossSum = 0;
            long seen = 0, locations = 0, correct = 0;
            for (int batch = 0; batch < batches; batch++)
            {
                int n = Math.Min(B, order.Length - batch * B);
                for (int i = 0; i < n; i++)
                {
                    int row = order[batch * B + i];
                    bool flip = recipe.HorizontalFlip && epochRng.NextDouble() < 0.5;
                    scenes.Fill(scenes.Train, row, mean, std, flip, x.AsSpan(i * size, size));
                    var boxes = flip ? DetectionScenes.Mirrored(scenes.Train.Boxes[row], scenes.Canvas) : scenes.Train.Boxes[row];
                    LocationAssignment.Targets(boxes, detector.GridWidth, detector.GridHeight, detector.Stride,
                        labels.AsSpan(i * L, L), targets.AsSpan(i * L * BoxCoding.Outputs, L * BoxCoding.Outputs));
                }
                detector.Forward(x.AsSpan(0, n * size), n, training: true);
                var loss = DetectionLoss.Compute(detector.ClassLogits, detector.BoxOutputs, labels.AsSpan(0, n * L),
                    targets.AsSpan(0, n * L * BoxCoding.Outputs), K, gradClass.AsSpan(0, n * L * K), gradBox.AsSpan(0, n * L * BoxCoding.Outputs));
                if (!double.IsFinite(loss.Total))
                    throw new MtkdException($"{who}: training diverged at epoch {epoch + 1}, step {step} (loss {loss.Total}); lower the learning rate");
                correct += Accuracy.CountCorrect(detector.ClassLogits, labels.AsSpan(0, n * L), K);
                locations += n * L;
                detector.Backward(gradClass.AsSpan(0, n * L * K), gradBox.AsSpan(0, n * L * BoxCoding.Outputs));
                optimizer.LearningRate = schedule.At(step);
                optimizer.Step();
                step++;
                lossSum += loss.Total * n;
                seen += n;
                observer?.BatchDone(name, batch + 1, loss.Total);
            }
            double trainSeconds = epochClock.Elapsed.TotalSeconds;
            epoch++;
            testAp = DetectorInference.Run(detector, scenes, scenes.Test, mean, std).Summary.AP;
            config = DetectorCheckpoint.Save(checkpoint, detector, config with { Epoch = epoch, Step = step, TestAccuracy = testAp }, optimizer);
            var line = new EpochMetrics(name, epoch, step, lossSum / seen, (double)correct / locations, testAp, optimizer.LearningRate,
                epochClock.Elapsed.TotalSeconds, seen / trainSeconds);
            metrics.Add(line);
            if (metricsPath is not null) JsonFiles.WriteLines(metricsPath, metrics);
            observer?.EpochDone(line);
        }
        return new DetectorOutcome(name, detector, config, epoch >= recipe.Epochs, resumed, clock.Elapsed.TotalSeconds, testAp);
    }
}
