using CommandLine;
using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Data.Datasets;
using MtkdRl.Distillation;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs.Bench;

[Verb("epoch", HelpText = "A distillation epoch from cached teacher outputs, per pool size (synthetic teachers) or for a given pool, with strategies timed in alternation.")]
public sealed class BenchEpochVerb : BenchOptions
{
    [Option('k', "teachers", Separator = ',', HelpText = "Pool sizes to compare, comma-separated (default: 4,16).")]
    public IEnumerable<int> TeacherCounts { get; set; } = [];

    [Option("strategy", Default = "all", HelpText = "Comma-separated strategies timed in alternation (all: aver).")]
    public string Strategy { get; set; } = "all";

    [Option("rounds", Default = 1, HelpText = "Rounds; each runs every strategy in turn, so they share the machine's load.")]
    public int Rounds { get; set; } = 1;

    [Option("epochs", Default = 3, HelpText = "Epochs per run (the first is left out as warm-up when there are more; the median is reported).")]
    public int Epochs { get; set; } = 3;

    [Option("width", Default = 64, HelpText = "Every synthetic teacher's embedding width D.")]
    public int Width { get; set; } = 64;

    [Option("batch", Default = 128, HelpText = "Samples per step.")]
    public int Batch { get; set; } = 128;

    [Option('m', "model", HelpText = "Student architecture (default: the distillation default).")]
    public string? Student { get; set; }

    [Option("data", HelpText = "Dataset folder (default: the full Fashion-MNIST when installed, else the slice in data/).")]
    public string? Data { get; set; }

    [Option("pool", HelpText = "Time this pool (with its cache) instead of synthetic ones; --teachers and --width are then the pool's.")]
    public string? Pool { get; set; }

    [Option('b', "backend", Default = "all", HelpText = "Backend of the fused op (all: native).")]
    public string Backend { get; set; } = "all";

    [Option("threads", Default = 0, HelpText = "CPU threads (0: every core).")]
    public int Threads { get; set; }

    public int Run(IAnsiConsole console)
    {
        var counts = (TeacherCounts.Any() ? TeacherCounts : [4, 16]).ToList();
        if (Epochs < 1) throw new MtkdException($"--epochs must be at least 1 (got {Epochs})");
        if (Width < 1) throw new MtkdException($"--width must be at least 1 (got {Width})");
        var strategies = string.Equals(Strategy, "all", StringComparison.OrdinalIgnoreCase)
            ? ["aver"]
            : Strategy.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Distinct().ToList();
        string student = Student ?? new DistillRecipe().Student;
        var template = new DistillRecipe { Student = student, Epochs = Epochs, BatchSize = Batch };
        var data = DatasetLocator.Open(Data);
        string backendName = string.Equals(Backend, "all", StringComparison.OrdinalIgnoreCase) ? "native" : Backend;
        using var backend = BackendCatalog.Create(backendName, Threads);
        using var compute = new CpuCompute(Threads);
        console.WriteLine($"data: {data}");
        var records = Pool is null
            ? EpochBenchmark.Run(data, counts, strategies, template, Rounds, Width, compute, backend, backendName, console.WriteLine)
            : EpochBenchmark.RunOnPool(data, Pool, strategies, template, Rounds, compute, backend, backendName, console.WriteLine);
        string teachers = Pool is null ? $"synthetic teachers D={Width}" : $"pool {Pool} (mean D={records[0].D})";
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape($"distillation epoch from the cache: student {student}, {data.Name}, {teachers}, {Rounds} rounds"));
        table.AddColumns("K", "strategy", "epochs timed", "epoch s (median)", "samples/s", "strategy share", "cache MB", "vs first K", "vs first strategy (paired: median [[min, max]] over rounds)");
        for (int c = 2; c < 9; c++) table.Columns[c].RightAligned();
        foreach (var r in records)
        {
            var firstK = records.First(x => x.Strategy == r.Strategy);
            table.AddRow($"{r.K}", Markup.Escape(r.Strategy), $"{r.Epochs}", $"{r.EpochSeconds:F3}", $"{r.SamplesPerSecond:N0}", $"{100 * r.StrategyShare:F1} %",
                $"{r.CacheBytes / 1e6:F1}", $"{r.EpochSeconds / firstK.EpochSeconds:F2}x", $"{r.PairedRatio:F3}x [[{r.PairedRatioLow:F3}, {r.PairedRatioHigh:F3}]]");
        }
        console.Write(table);
        if (Json is not null) BenchJson.Write(Json, records);
        return 0;
    }
}
