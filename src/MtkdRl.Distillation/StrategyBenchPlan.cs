using MtkdRl.Core;
using MtkdRl.Strategies;

namespace MtkdRl.Distillation;

/// <summary>
/// What `mtkd bench strategies` times: each strategy's own cost per batch (Weights, Learn, agent updates, epoch
/// end) on random statistics, for every teacher count, so it can be set against the time of an aver batch.
/// </summary>
public sealed record StrategyBenchPlan(IReadOnlyList<string> Strategies, IReadOnlyList<int> TeacherCounts, int B, int Batches, int Classes, int Width)
{
    /// <summary>Checks the options; "all" is every strategy but none.</summary>
    public static StrategyBenchPlan Create(string strategy, IReadOnlyList<int> teacherCounts, int b, int batches, int classes, int width)
    {
        var names = string.Equals(strategy, "all", StringComparison.OrdinalIgnoreCase)
            ? StrategyCatalog.Names.Where(n => n != "none").ToList()
            : [strategy];
        foreach (var name in names)
            if (!StrategyCatalog.Names.Contains(name))
                throw new MtkdInputException($"unknown strategy '{name}' (known: {string.Join(", ", StrategyCatalog.Names)})");
        if (teacherCounts.Any(k => k < 1)) throw new MtkdInputException($"-k: teacher counts must be at least 1 (got {string.Join(',', teacherCounts)})");
        if (b < 2) throw new MtkdInputException($"--batch must be at least 2 (got {b})");
        if (batches < 1) throw new MtkdInputException($"--batches must be at least 1 (got {batches})");
        if (classes < 2) throw new MtkdInputException($"--classes must be at least 2 (got {classes})");
        if (width < 1) throw new MtkdInputException($"--width must be at least 1 (got {width})");
        return new StrategyBenchPlan(names, teacherCounts, b, batches, classes, width);
    }

    /// <summary>Every (strategy, K) pair, K by K.</summary>
    public IEnumerable<(string Strategy, int K)> Cases =>
        from k in TeacherCounts from name in Strategies select (name, k);

    public StrategyTiming Run(string strategy, int k) => StrategyBenchmark.Run(strategy, B, k, Batches, Classes, Width);
}
