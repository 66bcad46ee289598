using MtkdRl.Core;
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
    public static string RunDir(string outDir, DistillRecipe recipe) => Path.Combine(outDir, "runs", $"{recipe.Strategy}-seed{recipe.Seed}");

    public static IReadOnlyList<RunRecord> Run(DistillTrainer trainer, ComparisonPlan plan, string outDir, IReadOnlyList<string> teachers,
        IDistillObserver? observer = null, Action<DistillOutcome>? runDone = null, CancellationToken cancel = default)
    {
        foreach (var recipe in plan.Recipes) recipe.Validate();
        var records = new List<RunRecord>();
        foreach (var recipe in plan.Recipes)
        {
            if (cancel.IsCancellationRequested) break;
            string dir = RunDir(outDir, recipe);
            bool resume = false;
            if (DistillCheckpoint.Exists(dir))
            {
                // Options that do not reach the run's strategy are not part of what it is (older runs kept them).
                var saved = DistillCheckpoint.ReadState(dir).Recipe;
                saved = saved.ForStrategy(saved.Strategy, saved.Seed);
                if (saved != recipe)
                    throw new MtkdInputException($"{dir}: holds a run with other settings ({saved.Student}, {saved.Epochs} epochs); remove it or choose another --out");
                resume = true;
            }
            var outcome = trainer.Run(recipe, dir, resume, observer, cancel);
            runDone?.Invoke(outcome);
            records.Add(ToRecord(recipe, outcome.Metrics, teachers));
        }
        return records;
    }

    public static RunRecord ToRecord(DistillRecipe recipe, IReadOnlyList<DistillEpochMetrics> metrics, IReadOnlyList<string> teachers) =>
        new(recipe.Strategy, (int)recipe.Seed, teachers,
            [.. metrics.Select(m => new EpochRecord(m.Epoch, m.Loss, m.TrainAcc, m.TestAcc, m.TrainSeconds,
                recipe.Strategy == "none" ? [] : [.. m.MeanWl.Select(v => (double)v)],
                recipe.Strategy == "none" ? [] : [.. m.MeanWf.Select(v => (double)v)], m.MeanReward, m.WlOnBest))]);
}
