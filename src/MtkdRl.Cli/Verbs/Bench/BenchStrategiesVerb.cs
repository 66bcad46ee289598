using CommandLine;
using MtkdRl.Backends;
using MtkdRl.Distillation;
using MtkdRl.Strategies;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs.Bench;

[Verb("strategies", HelpText = "Each weighting strategy's own cost per batch (Weights, Learn, agent updates, epoch end) on random statistics, one thread.")]
public sealed class BenchStrategiesVerb : BenchOptions
{
    [Option("strategy", Default = "all", HelpText = "A strategy name, or all (every strategy but none).")]
    public string Strategy { get; set; } = "all";

    [Option('k', "teachers", Separator = ',', HelpText = "Teacher counts K, comma-separated (default: 6,64).")]
    public IEnumerable<int> TeacherCounts { get; set; } = [];

    [Option("batches", Default = 468, HelpText = "Timed batches per strategy and K (468 = one Fashion-MNIST epoch at batch 128).")]
    public int Batches { get; set; } = 468;

    [Option("width", Default = 64, HelpText = "Teacher embedding width D (the paper agent's state reads it).")]
    public int Width { get; set; } = 64;

    [Option("batch", Default = 128, HelpText = "Rows per batch.")]
    public int Batch { get; set; } = 128;

    [Option("classes", Default = 10, HelpText = "Number of classes.")]
    public int Classes { get; set; } = 10;

    public int Run(IAnsiConsole console)
    {
        var plan = StrategyBenchPlan.Create(Strategy, TeacherCounts.Any() ? [.. TeacherCounts] : [6, 64], Batch, Batches, Classes, Width);
        BenchJson.Reserve(Json);
        var records = new List<StrategyTiming>();
        foreach (var (name, k) in plan.Cases)
            console.Status().Start($"{name} K={k}", _ => records.Add(plan.Run(name, k)));

        var table = new Table().Border(TableBorder.Rounded);
        foreach (var col in new[] { "strategy", "B", "K", "weights µs", "learn µs", "of which updates µs", "epoch end µs", "µs / batch", "alloc B / batch", "updates" })
            table.AddColumn(new TableColumn(col).RightAligned());
        foreach (var r in records)
            table.AddRow(Markup.Escape(r.Strategy), $"{r.B}", $"{r.K}", $"{r.WeightsMicroseconds:F1}", $"{r.LearnMicroseconds:F1}",
                $"{r.UpdateMicroseconds:F1}", $"{r.EpochEndMicroseconds:F0}", $"{r.MicrosecondsPerBatch:F1}", $"{r.AllocatedBytesPerBatch:F0}", $"{r.Updates}");
        console.Write(table);
        console.MarkupLine($"{plan.Batches} batches of {plan.B} rows per line, C={plan.Classes}, D={plan.Width}, one thread; µs / batch = weights + learn + epoch end / batches");
        if (Json is not null)
        {
            BenchJson.Write(Json, records);
            console.MarkupLine($"wrote {Markup.Escape(Json)}");
        }
        return 0;
    }
}
