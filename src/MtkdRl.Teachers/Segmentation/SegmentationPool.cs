using System.Text;
using MtkdRl.Core;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Scenes;
using MtkdRl.Training;

namespace MtkdRl.Teachers;

/// <summary>One segmentation teacher as trained (or kept): its pool entry and whether it was already there.</summary>
/// <param name="Rescored">Kept, but scored again because its recipe's flip_test changed.</param>
public sealed record SegmentationTeacher(PoolTeacher Entry, bool Skipped, bool Flip, bool Rescored = false);

/// <summary>
/// A pool of segmentation teachers on a scenes folder: the same pool.json (with task "segmentation"; classes
/// counts background, test_accuracy holds each teacher's test mIoU), recipe.json and per-teacher checkpoints as
/// a classification pool, so a classification command refuses it in one line and this one refuses theirs.
/// </summary>
public static class SegmentationPool
{
    /// <summary>The scenes' name and a SHA-256 over their descriptor, images and masks.</summary>
    public static DatasetIdentity Identity(SceneDataset data)
    {
        var hashes = new StringBuilder(FileHash.Sha256(SceneFiles.Descriptor(data.Source)));
        foreach (var split in new[] { data.Train, data.Test })
            hashes.Append(FileHash.Sha256(split.Images)).Append(FileHash.Sha256(split.Masks));
        string name = $"scenes:{Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(data.Source)))}";
        return new DatasetIdentity(name, FileHash.Sha256(Encoding.ASCII.GetBytes(hashes.ToString())));
    }

    /// <summary>
    /// Each teacher's training recipe on scenes: augment none, flip, or auto (a flip where the source's classes are
    /// mirror-invariant); crops would cut objects at the canvas edge and are refused. FlipTest: the teacher answers with
    /// the flip test (its recipe's flip_test), refused where the classes are not mirror-invariant.
    /// </summary>
    public static IReadOnlyList<(string Name, TrainingRecipe Recipe, bool FlipTest)> Plans(PoolRecipe recipe, SceneDataset data, string source) =>
        recipe.Teachers.Select((t, i) =>
        {
            string who = $"{source}: teacher '{t.Name}'";
            bool flip = (t.Augment ?? AugmentationSpec.Auto) switch
            {
                "none" => false,
                "flip" => true,
                AugmentationSpec.Auto => data.Descriptor.MirrorInvariant,
                var other => throw new MtkdInputException($"{who}: augment '{other}' does not suit scenes (none, flip or auto)"),
            };
            var plan = PoolRecipe.Base(t) with { HorizontalFlip = flip, Seed = t.Seed ?? recipe.Seed * 1000 + (ulong)i + 1 };
            RequireSegmentationSpec(plan.ParsedSpec(who), who);
            bool flipTest = t.FlipTest == true;
            if (flipTest && !data.Descriptor.MirrorInvariant)
                throw new MtkdInputException($"{who}: flip_test needs mirror-invariant classes, and {SceneFiles.Descriptor(data.Source)} says they are not (mirror_invariant false)");
            return (t.Name, plan, flipTest);
        }).ToList();

    /// <summary>A one-line error unless <paramref name="spec"/> is a unet or fcn: a det spec is named a detector and the recipe's task field pointed to.</summary>
    public static void RequireSegmentationSpec(ModelSpec spec, string who)
    {
        if (spec.Family == ModelFamily.Det)
            throw new MtkdInputException($"{who}: spec {spec} is a detector, and this recipe trains segmentation teachers (a detection recipe says \"task\": \"detection\")");
        if (!spec.IsSegmentation) throw new MtkdInputException($"{who}: spec {spec} is a classifier; scenes need unet:W[xW...] or fcn:W[xW...]");
    }

    /// <summary>
    /// Trains the recipe's teachers into <paramref name="poolDir"/> one after another, writing pool.json after each;
    /// a teacher whose checkpoint already holds the same recipe is kept, and scored again when only its flip_test changed.
    /// A teacher with flip_test is scored with the flip test, as the pool serves it.
    /// </summary>
    public static IReadOnlyList<SegmentationTeacher> Train(string poolDir, SceneDataset data, PoolRecipe recipe, string source,
        CpuCompute compute, ITrainingObserver? observer = null)
    {
        if (File.Exists(poolDir)) throw new MtkdInputException($"--pool {poolDir}: is a file, not a folder");
        var plans = Plans(recipe, data, source);
        var input = SampleShape.Image(data.Train.Channels, data.Train.Canvas, data.Train.Canvas);
        // Only teachers that start from scratch start from their backbone: a kept one's may since have moved.
        foreach (var (_, plan, _) in plans.Where(p => p.Recipe.Backbone is not null && !Checkpoint.HoldsRecipe(Path.Combine(poolDir, p.Name), p.Recipe)))
            BackboneInit.Apply(plan.ParsedSpec().BuildSegmentation(input, data.ClassCount + 1, compute, new Rng(1)).NamedTensors, plan.Backbone!, compute);
        using var poolLock = FolderLock.Acquire(poolDir);
        var identity = Identity(data);
        var manifest = OpenOrCreate(poolDir, data, identity);
        ImportedNetworks.RefuseTrainingOver(poolDir, manifest, plans.Select(p => p.Name));
        string kept = Path.Combine(poolDir, PoolRecipe.FileName);
        recipe.MergedInto(File.Exists(kept) ? PoolRecipe.Read(kept) : null).Write(kept);
        var trainer = new SegmentationTrainer(data, compute);
        var results = new List<SegmentationTeacher>();
        foreach (var (name, plan, flipTest) in plans)
        {
            string checkpoint = Path.Combine(poolDir, name);
            var existing = manifest.Teachers.FirstOrDefault(t => t.Name == name);
            if (existing is not null && Checkpoint.HoldsRecipe(checkpoint, plan))
            {
                if (existing.FlipTest == flipTest)
                {
                    results.Add(new SegmentationTeacher(existing, Skipped: true, plan.HorizontalFlip));
                    continue;
                }
                var (network, config) = SegmentationCheckpoint.Load(checkpoint, compute);
                var rescored = existing with
                {
                    FlipTest = flipTest,
                    TestAccuracy = ServedMeanIoU(network, data, config.Normalization.ToChannelNormalization(), flipTest, config.TestAccuracy),
                };
                manifest = manifest.With(rescored);
                manifest.Write(poolDir);
                results.Add(new SegmentationTeacher(rescored, Skipped: true, plan.HorizontalFlip, Rescored: true));
                continue;
            }
            var outcome = trainer.Train(name, plan, checkpoint, observer, Checkpoint.MetricsPathOf(checkpoint));
            var entry = new PoolTeacher(name, plan.Spec, TeacherKind.Trained, name + Checkpoint.ConfigExtension, null,
                ServedMeanIoU(outcome.Model, data, outcome.Normalization, flipTest, outcome.Test.MeanIoU), outcome.Model.EmbeddingWidth,
                outcome.Model.ParameterCount, outcome.Seconds, FlipTest: flipTest);
            manifest = manifest.With(entry);
            manifest.Write(poolDir);
            results.Add(new SegmentationTeacher(entry, Skipped: false, plan.HorizontalFlip));
        }
        return results;
    }

    /// <summary>The test mIoU of a trained teacher as the pool serves it: its own score (<paramref name="plain"/> when known), or its flip test's.</summary>
    private static double ServedMeanIoU(SegmentationModel model, SceneDataset data, ChannelNormalization norm, bool flipTest, double? plain) =>
        !flipTest && plain is double known ? known : SegmentationEvaluator.Evaluate(model, data.Test, norm, flip: flipTest).MeanIoU;

    /// <summary>
    /// Adds a segmentation teacher that runs elsewhere (an ONNX model) to the pool, with the pool locked:
    /// <paramref name="run"/> checks it against the scenes and scores it, returning the network to copy into the pool, its
    /// test mIoU and its embedding width D. It has no stored outputs: `teachers cache` and live runs run the model.
    /// </summary>
    /// <param name="flipTest">The teacher answers with the flip test (<see cref="FlipTestTeacher"/>), its score included.</param>
    public static PoolTeacher Import(string poolDir, string name, SceneDataset data, Func<(TeacherPool.ImportedNetwork Network, double TestMeanIoU, int EmbeddingWidth)> run,
        bool flipTest = false) =>
        ImportedNetworks.Add(poolDir, name, () => OpenOrCreate(poolDir, data, Identity(data)), run, flipTest);

    private static PoolManifest OpenOrCreate(string poolDir, SceneDataset data, DatasetIdentity identity)
    {
        if (PoolManifest.Exists(poolDir))
        {
            var m = PoolManifest.Read(poolDir, TaskKind.Segmentation);
            if (m.Dataset.Fingerprint != identity.Fingerprint)
                throw new MtkdInputException($"{PoolManifest.PathIn(poolDir)}: the pool belongs to {m.Dataset.Name} ({m.Dataset.ShortFingerprint}), --data holds {identity.Name} ({identity.ShortFingerprint}); use another --pool");
            return m;
        }
        return new PoolManifest
        {
            Task = TaskKind.Segmentation.Name(),
            Dataset = identity,
            Classes = data.ClassCount + 1,
            ClassNames = ["background", .. data.Descriptor.Classes],
            InputShape = [data.Train.Channels, data.Train.Canvas, data.Train.Canvas],
            TrainRows = data.Train.Count,
            TestRows = data.Test.Count,
        };
    }
}
