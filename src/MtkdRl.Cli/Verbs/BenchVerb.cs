using System.Text.Json;
using CommandLine;
using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

[Verb("bench", HelpText = "Benchmarks. `bench kernels`: the fused distillation op per backend and pass. `bench train --model SPEC`: a training step (forward + loss + backward) on the CPU. `bench epoch --teachers 4,16`: a distillation epoch from cached teacher outputs per pool size. `bench strategies [--strategy NAME|all] [-k K,...]`: what each weighting strategy adds per batch.")]
public sealed class BenchVerb
{
    [Value(0, MetaName = "target", Required = true, HelpText = "What to time: kernels, train, epoch or strategies.")]
    public string Target { get; set; } = "";

    [Option('b', "backend", Default = "all", HelpText = "A backend name from `mtkd info`, or all (the best variant of each family; CPU simulators only when named).")]
    public string Backend { get; set; } = "all";

    [Option('s', "shape", Separator = ';', HelpText = "B,K,C,D shapes separated by ';' (default: 256,4,100,256;256,16,100,256;1024,8,1000,512;256,64,100,128).")]
    public IEnumerable<string> Shapes { get; set; } = [];

    [Option('r', "repeat", Default = 50, HelpText = "Timed repetitions per pass (fewer when --max-seconds would be exceeded).")]
    public int Repeat { get; set; } = 50;

    [Option("warmup", Default = 5, HelpText = "Untimed repetitions before timing.")]
    public int Warmup { get; set; } = 5;

    [Option("max-seconds", Default = 20.0, HelpText = "Time budget per pass; slow backends get fewer repetitions (at least 3).")]
    public double MaxSeconds { get; set; } = 20.0;

    [Option("seed", Default = 1234, HelpText = "Seed of the random inputs.")]
    public int Seed { get; set; } = 1234;

    [Option('m', "model", Separator = ';', HelpText = "train: model specs separated by ';' (default: mlp:512x512;cnn:32x64), e.g. mlp:64 or cnn:32x64,fc256.")]
    public IEnumerable<string> Models { get; set; } = [];

    [Option("strategy", Default = "all", HelpText = "strategies: a strategy name, or all. epoch: comma-separated strategies timed in alternation (all: aver).")]
    public string Strategy { get; set; } = "all";

    [Option('k', "teachers", Separator = ',', HelpText = "strategies: teacher counts K, comma-separated (default: 6,64). epoch: pool sizes to compare (default: 4,16).")]
    public IEnumerable<int> TeacherCounts { get; set; } = [];

    [Option("batches", Default = 468, HelpText = "strategies: timed batches per strategy and K (468 = one Fashion-MNIST epoch at batch 128).")]
    public int Batches { get; set; } = 468;

    [Option("width", Default = 64, HelpText = "strategies, epoch: teacher embedding width D (the paper agent's state reads it; epoch: every synthetic teacher's).")]
    public int Width { get; set; } = 64;

    [Option("batch", Default = 128, HelpText = "train, strategies: samples per step.")]
    public int Batch { get; set; } = 128;

    [Option("input", Default = "1x28x28", HelpText = "train: shape of one sample, ChxHxW or D.")]
    public string Input { get; set; } = "1x28x28";

    [Option("classes", Default = 10, HelpText = "train: number of classes.")]
    public int Classes { get; set; } = 10;

    [Option("threads", Default = 0, HelpText = "kernels (native), train, epoch: CPU threads (0: every core).")]
    public int Threads { get; set; }

    [Option("rounds", Default = 1, HelpText = "epoch: rounds; each runs every strategy in turn, so they share the machine's load.")]
    public int Rounds { get; set; } = 1;

    [Option("epochs", Default = 3, HelpText = "epoch: epochs per run (the first is left out as warm-up when there are more; the median is reported).")]
    public int Epochs { get; set; } = 3;

    [Option("data", HelpText = "epoch: dataset folder (default: the full Fashion-MNIST when installed, else the slice in data/).")]
    public string? Data { get; set; }

    [Option("pool", HelpText = "epoch: time this pool (with its cache) instead of synthetic ones; --teachers and --width are then the pool's.")]
    public string? Pool { get; set; }

    [Option("json", HelpText = "Also write the records as a JSON array to this file.")]
    public string? Json { get; set; }

    [Option("jsonl", HelpText = "kernels: append each record to this file as one JSON line as soon as it is measured (a run cut short keeps what finished).")]
    public string? JsonLines { get; set; }

    public static readonly string[] DefaultShapes = ["256,4,100,256", "256,16,100,256", "1024,8,1000,512", "256,64,100,128"];

    public static readonly string[] DefaultTrainModels = ["mlp:512x512", "cnn:32x64"];

    public int Run(IAnsiConsole console)
    {
        if (string.Equals(Target, "train", StringComparison.OrdinalIgnoreCase)) return RunTrain(console);
        if (string.Equals(Target, "epoch", StringComparison.OrdinalIgnoreCase)) return RunEpoch(console);
        if (string.Equals(Target, "strategies", StringComparison.OrdinalIgnoreCase))
            return StrategyBench.Run(console, Strategy, TeacherCounts.Any() ? [.. TeacherCounts] : [6, 64], Batch, Batches, Classes, Width, Json);
        if (!string.Equals(Target, "kernels", StringComparison.OrdinalIgnoreCase))
            throw new MtkdException($"bench: unknown target '{Target}' (known: kernels, train, epoch, strategies)");
        if (Repeat < 1) throw new MtkdException($"--repeat must be at least 1 (got {Repeat})");
        if (Warmup < 0) throw new MtkdException($"--warmup must be at least 0 (got {Warmup})");
        var shapes = (Shapes.Any() ? Shapes : DefaultShapes).Select(ParseShape).ToList();
        var entries = SelectBackends(Backend, console);
        if (Json is not null) AtomicFile.WriteAllText(Json, "[]"); // fail on an unwritable path before an hour of timing

        var records = new List<KernelBenchRecord>();
        var options = new KernelBenchOptions(Repeat, Warmup, Seed, MaxSeconds);
        foreach (var entry in entries)
        {
            var probe = entry.Probe();
            if (!probe.Available)
            {
                // A backend asked for by name must run: a benchmark that silently times nothing reads as a success.
                if (entries.Count == 1 && !string.Equals(Backend, "all", StringComparison.OrdinalIgnoreCase))
                    throw new BackendUnavailableException($"backend '{entry.Name}' is unavailable: {probe.Detail}");
                console.MarkupLine($"[yellow]{Markup.Escape(entry.Name)}: skipped ({Markup.Escape(probe.Detail)})[/]");
                continue;
            }
            // --threads bounds the native op's team, so its figures can be read against single-threaded epochs.
            using var backend = BackendCatalog.WithThreads(entry.Create(), Threads);
            foreach (var shape in shapes)
            {
                console.Status().Start($"{entry.Name} {shape}", ctx =>
                {
                    foreach (var r in KernelBenchmark.Run(entry, backend, shape, options, msg => ctx.Status(Markup.Escape(msg))))
                    {
                        records.Add(r);
                        if (JsonLines is not null)
                            File.AppendAllText(JsonLines, System.Text.Json.Nodes.JsonNode.Parse(BenchJson.Serialize([r]))!.AsArray()[0]!.ToJsonString() + "\n");
                    }
                });
            }
        }
        console.Write(BenchTable.Render(records));
        if (Json is not null)
        {
            AtomicFile.WriteAllText(Json, BenchJson.Serialize(records));
            console.MarkupLine($"wrote {Markup.Escape(Json)}");
        }
        return 0;
    }

    private int RunTrain(IAnsiConsole console)
    {
        var specs = (Models.Any() ? Models : DefaultTrainModels).Select(m => ModelSpec.Parse(m, "--model")).ToList();
        if (Batch <= 0) throw new MtkdException($"--batch must be positive (got {Batch})");
        if (Classes < 2) throw new MtkdException($"--classes must be at least 2 (got {Classes})");
        var options = new TrainStepOptions(Batch, Repeat, Warmup, MaxSeconds, SampleShape.Parse(Input), Classes, (ulong)Seed);
        if (Json is not null) AtomicFile.WriteAllText(Json, "[]");
        using var compute = new CpuCompute(Threads);
        var records = new List<TrainStepRecord>();
        foreach (var spec in specs)
            console.Status().Start(spec.ToString(), ctx =>
                records.Add(TrainStepBenchmark.Run(spec, options, compute, msg => ctx.Status(Markup.Escape(msg)))));
        var table = new Table().AddColumns("model", "input", "batch", "params", "threads", "step ms (median)", "forward ms", "backward ms", "samples/s");
        foreach (var r in records)
            table.AddRow(Markup.Escape(r.Model), r.Input, $"{r.Batch}", $"{r.Parameters:N0}", $"{r.Threads}", $"{r.StepMedianMs:F2}",
                $"{r.ForwardMedianMs:F2}", $"{r.BackwardMedianMs:F2}", $"{r.SamplesPerSecond:F0}");
        console.Write(table);
        console.MarkupLine($"GEMM: {Markup.Escape(compute.GemmImplementation)}");
        if (Json is not null)
        {
            AtomicFile.WriteAllText(Json, TrainStepBenchmark.ToJson(records));
            console.MarkupLine($"wrote {Markup.Escape(Json)}");
        }
        return 0;
    }

    public static DistillShape ParseShape(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 4 || !parts.All(p => int.TryParse(p, out var v) && v > 0))
            throw new MtkdException($"--shape '{text}': expected B,K,C,D (four positive integers)");
        var v = parts.Select(int.Parse).ToArray();
        return new DistillShape(v[0], v[1], v[2], v[3]);
    }

    /// <summary>`all` means the best variant of each family, leaving out CPU simulators, which must be named.</summary>
    public static IReadOnlyList<BackendEntry> SelectBackends(string name, IAnsiConsole console)
    {
        if (!string.Equals(name, "all", StringComparison.OrdinalIgnoreCase)) return [BackendCatalog.Find(name)];
        var list = new List<BackendEntry>();
        foreach (var family in BackendCatalog.Families)
        {
            var entry = BackendCatalog.Find(family);
            if (entry.Simulated)
            {
                console.MarkupLine($"[yellow]{entry.Name}: skipped (no device here, only a CPU simulator: name {entry.Name}-cpu to time it)[/]");
                continue;
            }
            list.Add(entry);
        }
        return list;
    }

    private int RunEpoch(IAnsiConsole console)
    {
        var counts = (TeacherCounts.Any() ? TeacherCounts : [4, 16]).ToList();
        if (Epochs < 1) throw new MtkdException($"--epochs must be at least 1 (got {Epochs})");
        if (Width < 1) throw new MtkdException($"--width must be at least 1 (got {Width})");
        var strategies = string.Equals(Strategy, "all", StringComparison.OrdinalIgnoreCase)
            ? ["aver"]
            : Strategy.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Distinct().ToList();
        string student = Models.FirstOrDefault() ?? new MtkdRl.Distillation.DistillRecipe().Student;
        var template = new MtkdRl.Distillation.DistillRecipe { Student = student, Epochs = Epochs, BatchSize = Batch };
        var data = MtkdRl.Data.Datasets.DatasetLocator.Open(Data);
        string backendName = string.Equals(Backend, "all", StringComparison.OrdinalIgnoreCase) ? "native" : Backend;
        using var backend = BackendCatalog.Create(backendName, Threads);
        using var compute = new CpuCompute(Threads);
        console.WriteLine($"data: {data}");
        var records = Pool is null
            ? MtkdRl.Distillation.EpochBenchmark.Run(data, counts, strategies, template, Rounds, Width, compute, backend, backendName, console.WriteLine)
            : MtkdRl.Distillation.EpochBenchmark.RunOnPool(data, Pool, strategies, template, Rounds, compute, backend, backendName, console.WriteLine);
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
        if (Json is not null)
            AtomicFile.WriteAllText(Json, JsonSerializer.Serialize(records, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
        return 0;
    }
}
