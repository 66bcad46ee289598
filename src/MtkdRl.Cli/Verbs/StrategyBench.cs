using System.Text.Json;
using MtkdRl.Core;
using MtkdRl.Strategies;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

/// <summary>`mtkd bench strategies`: each strategy's own cost per batch (Weights, Learn, agent updates, epoch end),
/// on random statistics, so it can be set against the time of an aver batch.</summary>
public static class StrategyBench
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static int Run(IAnsiConsole console, string strategy, IReadOnlyList<int> teacherCounts, int b, int batches, int classes, int width, string? json)
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
        if (json is not null) AtomicFile.WriteAllText(json, "[]");

        var records = new List<StrategyTiming>();
        foreach (int k in teacherCounts)
            foreach (var name in names)
                console.Status().Start($"{name} K={k}", _ => records.Add(StrategyBenchmark.Run(name, b, k, batches, classes, width)));

        var table = new Table().Border(TableBorder.Rounded);
        foreach (var col in new[] { "strategy", "B", "K", "weights µs", "learn µs", "of which updates µs", "epoch end µs", "µs / batch", "alloc B / batch", "updates" })
            table.AddColumn(new TableColumn(col).RightAligned());
        foreach (var r in records)
            table.AddRow(Markup.Escape(r.Strategy), $"{r.B}", $"{r.K}", $"{r.WeightsMicroseconds:F1}", $"{r.LearnMicroseconds:F1}",
                $"{r.UpdateMicroseconds:F1}", $"{r.EpochEndMicroseconds:F0}", $"{r.MicrosecondsPerBatch:F1}", $"{r.AllocatedBytesPerBatch:F0}", $"{r.Updates}");
        console.Write(table);
        console.MarkupLine($"{batches} batches of {b} rows per line, C={classes}, D={width}, one thread; µs / batch = weights + learn + epoch end / batches");
        if (json is not null)
        {
            AtomicFile.WriteAllText(json, JsonSerializer.Serialize(records, JsonOptions));
            console.MarkupLine($"wrote {Markup.Escape(json)}");
        }
        return 0;
    }
}
