using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Data.Datasets;
using MtkdRl.Reports;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>What `mtkd demo` runs.</summary>
/// <param name="Out">Folder for the pool, the runs and the report (reused: finished parts are not repeated).</param>
/// <param name="Data">Dataset folder; null for the Fashion-MNIST slice committed in data/.</param>
/// <param name="KdLoss">--kd-loss (null: kl).</param>
/// <param name="FeatureLoss">--feature-loss (null: mse).</param>
public sealed record DemoSettings(string Out, string? Data, string Student, int Epochs, int Seeds, string? KdLoss = null, string? FeatureLoss = null);

/// <summary>What the demo's comparison came to, and where its report went.</summary>
public sealed record DemoResult(Comparison Comparison, string Title, string Reading, IReadOnlyList<string> Files);

/// <summary>
/// The main job, step by step: train the quick teacher pool (once), cache its outputs (once), distil the student
/// with each of <see cref="Strategies"/> over the seeds, and write the report. Each step that a previous run
/// finished is skipped; the caller shows progress between the steps.
/// </summary>
public sealed class DemoPipeline
{
    public static readonly IReadOnlyList<string> Strategies = ["none", "aver", "ca-mkd", "mtkd-rl-paper", "mtkd-rl-ppo"];

    private readonly IReadOnlyList<TeacherPlan> _plans;

    public DemoSettings Settings { get; }

    public ImageDataset Data { get; }

    public string PoolDir => Path.Combine(Settings.Out, "pool");

    public DemoPipeline(DemoSettings settings)
    {
        if (settings.Epochs < 1) throw new MtkdException($"--epochs must be at least 1 (got {settings.Epochs})");
        if (settings.Seeds < 1) throw new MtkdException($"--seeds must be at least 1 (got {settings.Seeds})");
        Settings = settings;
        string dataDir = settings.Data ?? DatasetLocator.FindCommittedSlice()
            ?? throw new MtkdException($"{DatasetLocator.CommittedSlice}: not found; run the demo from the repository or pass --data");
        Data = DatasetLocator.Load(dataDir);
        _plans = PoolPresets.Get("quick", Data, 1);
    }

    /// <summary>Every teacher of the quick preset is in the pool.</summary>
    public bool PoolIsComplete =>
        PoolManifest.Exists(PoolDir) && _plans.All(p => PoolManifest.Read(PoolDir).Teachers.Any(t => t.Name == p.Name));

    public IReadOnlyList<TrainedTeacher> TrainPool(CpuCompute compute, ITrainingObserver? observer) =>
        TeacherPool.Train(PoolDir, Data, PoolPresets.Recipe("quick"), "preset 'quick'", compute, observer);

    /// <summary>Both splits' caches open against the pool and the data (a changed pool or dataset makes them stale).</summary>
    public bool CacheIsCurrent()
    {
        foreach (var split in TeacherCache.Splits)
        {
            try { TeacherCache.Open(PoolDir, split, Data).Dispose(); }
            catch (MtkdInputException) { return false; }
        }
        return true;
    }

    public IReadOnlyList<CacheBuildResult> BuildCache(CpuCompute compute, Action<string, string, int, int>? progress) =>
        TeacherCache.Build(PoolDir, Data, false, compute, progress);

    public PoolManifest Manifest => PoolManifest.Read(PoolDir);

    /// <summary>Distils every strategy x seed (runs already finished are read back), then writes the report.</summary>
    public DemoResult Compare(CpuCompute compute, IDistillBackend backend, string backendName, IDistillObserver? observer)
    {
        var s = Settings;
        var manifest = Manifest;
        var template = new DistillRecipe { Student = s.Student, Epochs = s.Epochs }.WithLosses(s.KdLoss, s.FeatureLoss);
        var plan = new ComparisonPlan(Strategies, [.. Enumerable.Range(1, s.Seeds).Select(seed => (ulong)seed)], template);
        var trainer = new DistillTrainer(Data, PoolDir, compute, backend, backendName);
        var names = manifest.Teachers.Select(t => t.Name).ToList();
        var runs = ComparisonRunner.Run(trainer, plan, s.Out, names, observer);
        var comparison = Comparison.Build(runs);
        string title = $"demo: {Data.Name}, student {s.Student}, {s.Epochs} epochs, {s.Seeds} seeds, {names.Count} teachers";
        string preface = DemoReport.PoolMarkdown(manifest.Teachers.Select(t => new DemoTeacher(t.Name, t.Spec, t.EmbeddingWidth, t.TestAccuracy)));
        string reading = DemoReport.Reading(comparison, manifest.Teachers.Max(t => t.TestAccuracy), Data.Test.Count);
        var files = ComparisonReport.Write(s.Out, comparison, title, preface + "\n" + reading + "\n");
        return new DemoResult(comparison, title, reading, files);
    }
}
