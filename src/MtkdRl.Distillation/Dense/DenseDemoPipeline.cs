using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Data.Datasets;
using MtkdRl.Data.Scenes;
using MtkdRl.Reports;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>What `mtkd demo --task segmentation` or `--task detection` runs.</summary>
/// <param name="Source">Dataset the scenes are composed from; null for the Fashion-MNIST slice committed in data/.</param>
/// <param name="Teachers">The pool's recipe; null for the seg-quick (segmentation) or det-quick (detection) preset.</param>
/// <param name="PerPixelWeights">Teacher weights per pixel (or location) instead of per image (<see cref="DistillRecipe.PerPixelWeights"/>).</param>
public sealed record DenseDemoSettings(string Out, string? Source, string Student, int Epochs, int Seeds, int Batch, SceneOptions Scenes, PoolRecipe? Teachers = null,
    TaskKind Task = TaskKind.Segmentation, bool PerPixelWeights = false);

/// <summary>
/// The dense demos, step by step: compose scenes from the source (once), train the teacher pool on them
/// (teachers already trained are kept), cache the teachers on the student's grid (float16), distil the student
/// with each of <see cref="Strategies"/> over the seeds (finished runs are read back) and write the report on test
/// mIoU (segmentation) or test AP and AP50 (detection), Welch p against none.
/// </summary>
public sealed class DenseDemoPipeline(DenseDemoSettings settings)
{
    public static readonly IReadOnlyList<string> Strategies = ["none", "aver", "ca-mkd", "mtkd-rl-ppo"];

    public DenseDemoSettings Settings { get; } = Check(settings);
    public string ScenesDir => Path.Combine(Settings.Out, "scenes");
    public string PoolDir => Path.Combine(Settings.Out, "pool");

    private static DenseDemoSettings Check(DenseDemoSettings s)
    {
        if (s.Epochs < 1) throw new MtkdException($"--epochs must be at least 1 (got {s.Epochs})");
        if (s.Seeds < 1) throw new MtkdException($"--seeds must be at least 1 (got {s.Seeds})");
        return s;
    }

    /// <summary>The demo's scenes, composed first when the folder has none (from <paramref name="source"/>, else from <see cref="DenseDemoSettings.Source"/>).</summary>
    public SceneDataset Scenes(ImageDataset? source = null)
    {
        if (!File.Exists(SceneFiles.Descriptor(ScenesDir)))
        {
            if (source is null)
            {
                string dir = Settings.Source ?? DatasetLocator.FindCommittedSlice()
                    ?? throw new MtkdException($"{DatasetLocator.CommittedSlice}: not found; run the demo from the repository or pass --data");
                source = DatasetLocator.Load(dir);
            }
            SceneGenerator.Write(source, Settings.Scenes, ScenesDir);
        }
        return SceneDataset.Load(ScenesDir);
    }

    /// <summary>The demo's detection pool: the settings' recipe or the det-quick preset.</summary>
    public IReadOnlyList<TrainedTeacher> TrainDetectionPool(DetectionScenes scenes, CpuCompute compute, ITrainingObserver? observer = null) =>
        Settings.Teachers is { } recipe
            ? DetectionPool.Train(PoolDir, scenes, recipe, "demo recipe", compute, observer)
            : DetectionPool.Train(PoolDir, scenes, PoolPresets.Recipe("det-quick"), "preset 'det-quick'", compute, observer);

    /// <summary>The detection pool's teacher cache on the student's grid, built (or rebuilt over a stale one) when the pool has none that matches.</summary>
    public CacheBuildResult? CacheDetectionTeachers(DetectionScenes scenes, CpuCompute compute, IDistillBackend backend, Action<string, int, int>? progress = null)
    {
        var run = new DetectionDistillRun(scenes, PoolDir, compute, backend);
        return CacheIfMissing(() => run.HasCache(Settings.Student), () => run.BuildCache(Settings.Student, half: true, progress));
    }

    /// <summary>The segmentation pool's teacher cache on the canvas grid, built (or rebuilt over a stale one) when the pool has none that matches.</summary>
    public CacheBuildResult? CacheTeachers(SceneDataset data, CpuCompute compute, IDistillBackend backend, Action<string, int, int>? progress = null)
    {
        var run = new DenseDistillRun(data, PoolDir, compute, backend);
        return CacheIfMissing(() => run.HasCache(Settings.Student), () => run.BuildCache(Settings.Student, half: true, progress));
    }

    private static CacheBuildResult? CacheIfMissing(Func<bool> hasCache, Func<CacheBuildResult> build)
    {
        bool current;
        try { current = hasCache(); }
        catch (MtkdInputException) { current = false; }
        return current ? null : build();
    }

    public DemoResult CompareDetection(DetectionScenes scenes, CpuCompute compute, IDistillBackend backend, Action<DistillRecipe, DetectionDistillEpoch>? epochDone = null)
    {
        var teachers = PoolManifest.Read(PoolDir, TaskKind.Detection).Teachers.Select(t => t.Name).ToList();
        string title = Title(scenes.Name, teachers.Count);
        var result = DenseComparisonRunner.Compare(new DetectionDistillRun(scenes, PoolDir, compute, backend), Plan(), Settings.Out, teachers, "none", title, epochDone);
        var best = result.Main.Rows.MaxBy(r => r.MeanAccuracy)!;
        var best50 = result.Ap50!.Rows.MaxBy(r => r.MeanAccuracy)!;
        string reading = $"best: {best.Strategy} at {best.MeanAccuracy:F4} test AP (none: {result.Main.Rows.Single(r => r.Strategy == "none").MeanAccuracy:F4}); " +
            $"on AP50 {best50.Strategy} at {best50.MeanAccuracy:F4} (none: {result.Ap50.Rows.Single(r => r.Strategy == "none").MeanAccuracy:F4})";
        return new DemoResult(result.Main, title, reading, result.Files);
    }

    private ComparisonPlan Plan() => new(Strategies, [.. Enumerable.Range(1, Settings.Seeds).Select(s => (ulong)s)],
        new DistillRecipe
        {
            Student = Settings.Student, Epochs = Settings.Epochs, BatchSize = Settings.Batch, PerPixelWeights = Settings.PerPixelWeights,
            Temperature = DistillRecipe.DenseTemperature,
        });

    private string Title(string scenes, int teachers) =>
        $"{scenes}: student {Settings.Student}, {Settings.Epochs} epochs, {Settings.Seeds} seed{(Settings.Seeds > 1 ? "s" : "")}, {teachers} teachers";

    public IReadOnlyList<SegmentationTeacher> TrainPool(SceneDataset data, CpuCompute compute, ITrainingObserver? observer = null) =>
        Settings.Teachers is { } recipe
            ? SegmentationPool.Train(PoolDir, data, recipe, "demo recipe", compute, observer)
            : SegmentationPool.Train(PoolDir, data, PoolPresets.Recipe("seg-quick"), "preset 'seg-quick'", compute, observer);

    public DemoResult Compare(SceneDataset data, CpuCompute compute, IDistillBackend backend, Action<DistillRecipe, DenseEpoch>? epochDone = null)
    {
        var teachers = PoolManifest.Read(PoolDir, TaskKind.Segmentation).Teachers.Select(t => t.Name).ToList();
        string title = Title(data.Descriptor.Name, teachers.Count);
        var comparison = DenseComparisonRunner.Compare(new DenseDistillRun(data, PoolDir, compute, backend), Plan(), Settings.Out, teachers, "none", title, epochDone);
        var best = comparison.Main.Rows.MaxBy(r => r.MeanAccuracy)!;
        string reading = $"best: {best.Strategy} at {best.MeanAccuracy:F4} test mIoU (none: {comparison.Main.Rows.Single(r => r.Strategy == "none").MeanAccuracy:F4})";
        return new DemoResult(comparison.Main, title, reading, comparison.Files);
    }
}
