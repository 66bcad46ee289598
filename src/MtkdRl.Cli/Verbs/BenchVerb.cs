using System.Text.Json;
using CommandLine;
using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

[Verb("bench", HelpText = "Benchmarks. `bench kernels`: the fused distillation op per backend and pass.")]
public sealed class BenchVerb
{
    [Value(0, MetaName = "target", Required = true, HelpText = "What to time: kernels.")]
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

    [Option("json", HelpText = "Also write the records as a JSON array to this file.")]
    public string? Json { get; set; }

    public static readonly string[] DefaultShapes = ["256,4,100,256", "256,16,100,256", "1024,8,1000,512", "256,64,100,128"];

    public int Run(IAnsiConsole console)
    {
        if (!string.Equals(Target, "kernels", StringComparison.OrdinalIgnoreCase))
            throw new MtkdException($"bench: unknown target '{Target}' (known: kernels)");
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
                console.MarkupLine($"[yellow]{Markup.Escape(entry.Name)}: skipped ({Markup.Escape(probe.Detail)})[/]");
                continue;
            }
            using var backend = entry.Create();
            foreach (var shape in shapes)
            {
                console.Status().Start($"{entry.Name} {shape}", ctx =>
                    records.AddRange(KernelBenchmark.Run(entry, backend, shape, options, msg => ctx.Status(Markup.Escape(msg)))));
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
}
