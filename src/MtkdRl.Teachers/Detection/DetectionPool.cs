using MtkdRl.Core;
using MtkdRl.Training;

namespace MtkdRl.Teachers;

/// <summary>
/// A pool of detectors: the same folder layout as a classifier pool (pool.json with task "detection",
/// recipe.json, NAME.json + NAME.safetensors + NAME.metrics.jsonl per teacher); a teacher's test_accuracy in
/// pool.json is its COCO AP on the test scenes. A pool made for another task is refused in one line.
/// </summary>
public static class DetectionPool
{
    public static IReadOnlyList<TrainedTeacher> Train(string poolDir, DetectionScenes scenes, PoolRecipe recipe, string source,
        CpuCompute compute, ITrainingObserver? observer = null, CancellationToken cancel = default)
    {
        TaskKinds.Require(TaskKind.Detection, TaskKinds.Parse(recipe.Task, source), source);
        var plans = recipe.DetectionPlans(scenes.Train.Count, scenes.Descriptor.MirrorInvariant, source);
        foreach (var plan in plans)
        {
            plan.Recipe.Validate($"teacher '{plan.Name}'");
            // Only a teacher that starts from scratch (not kept, not resumed) starts from its backbone.
            if (plan.Recipe.Backbone is { } backbone && !Checkpoint.HoldsRecipe(Path.Combine(poolDir, plan.Name), plan.Recipe))
                BackboneInit.Apply(plan.Recipe.ParsedSpec().BuildDetector(scenes.InputShape, scenes.ClassCount, compute, new Rng(1)).NamedTensors, backbone, compute);
        }
        using var poolLock = FolderLock.Acquire(poolDir);
        var manifest = OpenOrCreate(poolDir, scenes);
        ImportedNetworks.RefuseTrainingOver(poolDir, manifest, plans.Select(p => p.Name));
        Directory.CreateDirectory(poolDir);
        string kept = Path.Combine(poolDir, PoolRecipe.FileName);
        recipe.MergedInto(File.Exists(kept) ? PoolRecipe.Read(kept) : null).Write(kept);
        var trainer = new DetectorTrainer(scenes, compute);
        var results = new List<TrainedTeacher>();
        foreach (var plan in plans)
        {
            if (cancel.IsCancellationRequested) break;
            string checkpoint = Path.Combine(poolDir, plan.Name);
            var augmentation = new Data.Batching.Augmentation(0, plan.Recipe.HorizontalFlip);
            var existing = manifest.Teachers.FirstOrDefault(t => t.Name == plan.Name);
            if (existing is not null && File.Exists(Checkpoint.ConfigPathOf(checkpoint)))
            {
                var done = Checkpoint.ReadConfig(checkpoint);
                if (done.Recipe == plan.Recipe && done.Epoch >= plan.Recipe.Epochs)
                {
                    results.Add(new TrainedTeacher(existing, Skipped: true, Resumed: false, augmentation));
                    continue;
                }
            }
            var outcome = trainer.Train(plan.Name, plan.Recipe, checkpoint, Checkpoint.MetricsPathOf(checkpoint), observer, cancel);
            if (!outcome.Completed) break;
            var entry = new PoolTeacher(plan.Name, outcome.Detector.Spec.ToString(), TeacherKind.Trained,
                Path.GetFileName(Checkpoint.ConfigPathOf(checkpoint)), null, outcome.TestAp, outcome.Detector.EmbeddingWidth,
                outcome.Detector.ParameterCount, Math.Round(outcome.Seconds, 2));
            manifest = manifest.With(entry);
            manifest.Write(poolDir);
            results.Add(new TrainedTeacher(entry, Skipped: false, outcome.Resumed, augmentation));
        }
        return results;
    }

    /// <summary>
    /// Adds a detector that runs elsewhere (an ONNX model) to the pool: <paramref name="run"/> checks it against the
    /// scenes and scores it, returning the network to copy into the pool, its test COCO AP and its embedding width D.
    /// </summary>
    public static PoolTeacher Import(string poolDir, string name, DetectionScenes scenes, Func<(TeacherPool.ImportedNetwork Network, double TestAp, int EmbeddingWidth)> run) =>
        ImportedNetworks.Add(poolDir, name, () => OpenOrCreate(poolDir, scenes), run);

    /// <summary>The pool's manifest for these scenes: a fresh one, or the existing one after checking its task and scenes.</summary>
    public static PoolManifest OpenOrCreate(string poolDir, DetectionScenes scenes)
    {
        if (File.Exists(poolDir)) throw new MtkdInputException($"--pool {poolDir}: is a file, not a folder");
        if (PoolManifest.Exists(poolDir))
        {
            var m = PoolManifest.Read(poolDir, TaskKind.Detection);
            if (m.Dataset.Fingerprint != scenes.FingerprintHex)
                throw new MtkdInputException(
                    $"{PoolManifest.PathIn(poolDir)}: the pool belongs to {m.Dataset.Name} ({m.Dataset.ShortFingerprint}), --data holds other scenes ({scenes.FingerprintHex[..12]}); use another --pool");
            return m;
        }
        return new PoolManifest
        {
            Dataset = new DatasetIdentity(scenes.Name, scenes.FingerprintHex),
            Task = TaskKind.Detection.Name(),
            Classes = scenes.ClassCount,
            ClassNames = scenes.Descriptor.Classes,
            InputShape = [scenes.Channels, scenes.Canvas, scenes.Canvas],
            TrainRows = scenes.Train.Count,
            TestRows = scenes.Test.Count,
        };
    }
}
