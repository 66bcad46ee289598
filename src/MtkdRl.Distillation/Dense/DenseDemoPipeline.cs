using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Data.Datasets;
using MtkdRl.Data.Scenes;
using MtkdRl.Reports;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>What `mtkd demo --task segmentation` runs.</summary>
/// <param name="Source">Dataset the scenes are composed from; null for the Fashion-MNIST slice committed in data/.</param>
/// <param name="Teachers">The pool's recipe; null for the seg-quick preset.</param>
public sealed record DenseDemoSettings(string Out, string? Source, string Student, int Epochs, int Seeds, int Batch, SceneOptions Scenes, PoolRecipe? Teachers = null);

/// <summary>
/// The segmentation demo, step by step: compose scenes from the source (once), train the teacher pool on them
/// (teachers already trained are kept), distil the student with each of <see cref="Strategies"/> over the seeds
/// (finished runs are read back) and write the report on test mIoU, Welch p against none.
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

    public IReadOnlyList<SegmentationTeacher> TrainPool(SceneDataset data, CpuCompute compute, ITrainingObserver? observer = null) =>
        Settings.Teachers is { } recipe
            ? SegmentationPool.Train(PoolDir, data, recipe, "demo recipe", compute, observer)
            : SegmentationPool.Train(PoolDir, data, PoolPresets.Recipe("seg-quick"), "preset 'seg-quick'", compute, observer);

    public DemoResult Compare(SceneDataset data, CpuCompute compute, IDistillBackend backend, Action<DistillRecipe, DenseEpoch>? epochDone = null)
    {
        var teachers = PoolManifest.Read(PoolDir, TaskKind.Segmentation).Teachers.Select(t => t.Name).ToList();
        var plan = new ComparisonPlan(Strategies, [.. Enumerable.Range(1, Settings.Seeds).Select(s => (ulong)s)],
            new DistillRecipe { Student = Settings.Student, Epochs = Settings.Epochs, BatchSize = Settings.Batch });
        var runs = DenseComparisonRunner.Run(new DenseDistillRun(data, PoolDir, compute, backend), plan, Settings.Out, teachers, epochDone);
        var comparison = Comparison.Build(runs, "none", DenseComparisonRunner.Metric);
        string title = $"{data.Descriptor.Name}: student {Settings.Student}, {Settings.Epochs} epochs, {Settings.Seeds} seed{(Settings.Seeds > 1 ? "s" : "")}, {teachers.Count} teachers";
        var best = comparison.Rows.MaxBy(r => r.MeanAccuracy)!;
        string reading = $"best: {best.Strategy} at {best.MeanAccuracy:F4} test mIoU (none: {comparison.Rows.Single(r => r.Strategy == "none").MeanAccuracy:F4})";
        return new DemoResult(comparison, title, reading, ComparisonReport.Write(Settings.Out, comparison, title));
    }
}
