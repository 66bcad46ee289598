using MtkdRl.Core;
using MtkdRl.Core.Cluster;
using MtkdRl.Data.Datasets;
using MtkdRl.Reports;

namespace MtkdRl.Distillation;

/// <summary>Every strategy x seed of a comparison, all other settings from one template recipe
/// (<see cref="DistillRecipe.ForStrategy"/>: each strategy keeps only the options that apply to it).</summary>
public sealed record ComparisonPlan(IReadOnlyList<string> Strategies, IReadOnlyList<ulong> Seeds, DistillRecipe Template)
{
    public IEnumerable<DistillRecipe> Recipes =>
        from s in Strategies from seed in Seeds select Template.ForStrategy(s, seed);
}

/// <summary>
/// Runs a comparison: each strategy x seed in its own folder under OUT/runs, resumed when a run of the same
/// recipe is already there (finished runs are read back, not repeated), then turned into report records.
/// </summary>
public static class ComparisonRunner
{
    /// <summary>
    /// The weak-pool line of a comparison: the student's own training accuracy is the mean final one of the
    /// runs without teachers (strategy none) when there are any, else the best of all runs.
    /// </summary>
    public static string? WeakPoolWarning(IReadOnlyList<RunRecord> runs, string poolDir, ImageDataset data)
    {
        var finished = runs.Where(r => r.Epochs.Count > 0).ToList();
        if (finished.Count == 0) return null;
        var alone = finished.Where(r => r.Strategy == "none").ToList();
        double student = alone.Count > 0 ? alone.Average(r => r.Epochs[^1].TrainAccuracy) : finished.Max(r => r.Epochs[^1].TrainAccuracy);
        return DistillTrainer.PoolWarning(poolDir, data, student);
    }

    public static string RunDir(string outDir, DistillRecipe recipe) => Path.Combine(outDir, "runs", $"{recipe.Strategy}-seed{recipe.Seed}");

    public static IReadOnlyList<RunRecord> Run(DistillTrainer trainer, ComparisonPlan plan, string outDir, IReadOnlyList<string> teachers,
        IDistillObserver? observer = null, Action<DistillOutcome>? runDone = null, CancellationToken cancel = default)
    {
        var recipes = Prepare(plan, outDir);
        var records = new List<RunRecord>();
        foreach (var recipe in recipes)
        {
            if (cancel.IsCancellationRequested) break;
            var outcome = RunOne(trainer, recipe, outDir, observer, cancel);
            runDone?.Invoke(outcome);
            records.Add(ToRecord(recipe, outcome.Metrics, teachers));
        }
        return records;
    }

    /// <summary>
    /// The same comparison with up to <paramref name="jobs"/> runs at once, each worker with its own trainer (and so
    /// its own compute threads and op backend) from <paramref name="newWorker"/>. Every run is deterministic given
    /// its recipe, so the records equal the sequential ones; they come back in the plan's order. The observer is
    /// called from the workers' threads.
    /// </summary>
    /// <param name="job">The ranks of an MPI job: rank r runs the plan's runs i with i mod N = r (up to
    /// <paramref name="jobs"/> at once) and sends their records to rank 0, which returns them all in the plan's
    /// order; the other ranks return none. Null: this process runs every run.</param>
    public static IReadOnlyList<RunRecord> Run(Func<ComparisonWorker> newWorker, int jobs, ComparisonPlan plan, string outDir,
        IReadOnlyList<string> teachers, IDistillObserver? observer = null, CancellationToken cancel = default, ICommunicator? job = null)
    {
        if (jobs < 1) throw new MtkdInputException($"jobs must be at least 1 (got {jobs})");
        job ??= SingleProcess.Instance;
        var recipes = Prepare(plan, outDir);
        var records = new RunRecord?[recipes.Count];
        var mine = Enumerable.Range(0, recipes.Count).Where(i => i % job.Size == job.Rank).ToList();
        try
        {
            ParallelLanes.Run(mine, jobs, newWorker, (i, worker) =>
            {
                var outcome = RunOne(worker.Trainer, recipes[i], outDir, observer, cancel);
                records[i] = ToRecord(recipes[i], outcome.Metrics, teachers);
            }, cancel);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
        }
        if (job.Size > 1 && !ComparisonRecordExchange.GatherOnRoot(job, records)) return [];
        return [.. records.Where(r => r is not null).Select(r => r!)];
    }

    /// <summary>Validates every recipe and refuses, before any run starts, a folder that holds another configuration.</summary>
    public static List<DistillRecipe> Prepare(ComparisonPlan plan, string outDir)
    {
        var recipes = plan.Recipes.ToList();
        foreach (var recipe in recipes) recipe.Validate();
        foreach (var recipe in recipes)
        {
            string dir = RunDir(outDir, recipe);
            if (!DistillCheckpoint.Exists(dir)) continue;
            // Options that do not reach the run's strategy are not part of what it is (older runs kept them).
            var saved = DistillCheckpoint.ReadState(dir).Recipe;
            saved = saved.ForStrategy(saved.Strategy, saved.Seed);
            if (saved != recipe)
                throw new MtkdInputException($"{dir}: holds a run with other settings ({saved.Student}, {saved.Epochs} epochs); remove it or choose another --out");
        }
        return recipes;
    }

    private static DistillOutcome RunOne(DistillTrainer trainer, DistillRecipe recipe, string outDir, IDistillObserver? observer, CancellationToken cancel)
    {
        string dir = RunDir(outDir, recipe);
        return trainer.Run(recipe, dir, resume: DistillCheckpoint.Exists(dir), observer, cancel);
    }

    public static RunRecord ToRecord(DistillRecipe recipe, IReadOnlyList<DistillEpochMetrics> metrics, IReadOnlyList<string> teachers) =>
        new(recipe.Strategy, (int)recipe.Seed, teachers,
            [.. metrics.Select(m => new EpochRecord(m.Epoch, m.Loss, m.TrainAcc, m.TestAcc, m.TrainSeconds,
                recipe.Strategy == "none" ? [] : [.. m.MeanWl.Select(v => (double)v)],
                recipe.Strategy == "none" ? [] : [.. m.MeanWf.Select(v => (double)v)], m.MeanReward, m.WlOnBest))]);
}

/// <summary>What one parallel comparison worker owns: its trainer and whatever the trainer runs on (compute threads,
/// op backend), released when the comparison ends.</summary>
public sealed class ComparisonWorker(DistillTrainer trainer, params IDisposable[] owned) : IDisposable
{
    public DistillTrainer Trainer { get; } = trainer;

    public void Dispose()
    {
        foreach (var d in owned) d.Dispose();
    }
}
