using CommandLine;
using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Gpu.Cuda;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

[Verb("selfcheck", HelpText = "Every pass of the named backends against the float64 reference on fresh random inputs with poisoned outputs (plus the CUDA plumbing checks for cuda). Exit code 1 when any check fails.")]
public sealed class SelfCheckVerb
{
    [Option('b', "backend", Separator = ',', HelpText = "Backend names from `mtkd info`, comma-separated (default: cuda,ilgpu-cuda).")]
    public IEnumerable<string> Backends { get; set; } = [];

    [Option('s', "shape", Separator = ';', HelpText = "B,K,C,D shapes separated by ';' (default: 4096,16,1000,512;256,64,100,128). A ragged-width, a near one-hot, an all-ignored and a non-finite case always run too.")]
    public IEnumerable<string> Shapes { get; set; } = [];

    [Option("seed", HelpText = "Seed of the random inputs (default: a fresh one, printed so a failure can be replayed).")]
    public int? Seed { get; set; }

    [Option("small", HelpText = "Small fixed cases (ragged, one-hot, ignored, non-finite) for CPU simulators; the default for backends that are simulators.")]
    public bool Small { get; set; }

    [Option("kernels-only", HelpText = "Leave out the CUDA plumbing checks (some of which make driver calls fail on purpose), e.g. under compute-sanitizer.")]
    public bool KernelsOnly { get; set; }

    [Option("losses", HelpText = "Also every catalog loss other than kl + mse (--kd-loss, --feature-loss) on the ragged-width case.")]
    public bool Losses { get; set; }

    [Option("json", HelpText = "Also write the results as a JSON array to this file.")]
    public string? Json { get; set; }

    [Option("jsonl", HelpText = "Append each result to this file as one JSON line as soon as its check ends (a run cut short keeps what finished).")]
    public string? JsonLines { get; set; }

    public static readonly string[] DefaultBackends = ["cuda", "ilgpu-cuda"];

    public int Run(IAnsiConsole console)
    {
        var names = (Backends.Any() ? Backends : DefaultBackends).ToList();
        var shapes = BenchShapes.ParseAll(Shapes, BenchShapes.SelfCheckDefaults);
        var entries = names.Select(BackendCatalog.Find).ToList(); // an unknown name fails before any work
        int seed = Seed ?? Random.Shared.Next();
        console.WriteLine($"seed {seed}");
        BenchJson.Reserve(Json);

        var results = new List<SelfCheckResult>();
        void Record(SelfCheckResult r)
        {
            results.Add(r);
            if (JsonLines is not null) BenchJson.AppendLine(JsonLines, r);
        }
        foreach (var entry in entries)
        {
            var probe = entry.Probe();
            if (!probe.Available)
            {
                Record(new SelfCheckResult(entry.Name, "available", false, probe.Detail));
                continue;
            }
            using var backend = entry.Create();
            console.WriteLine($"{entry.Name}: {backend.Device}");
            IReadOnlyList<CudaCheckResult> plumbing = KernelsOnly ? [] : backend switch
            {
                CudaBackend cuda => CudaSelfCheck.Run(cuda, seed),
                CudaEmulatorBackend emu => CudaSelfCheck.RunEmulated(emu, seed),
                _ => [],
            };
            foreach (var r in plumbing) Record(new SelfCheckResult(entry.Name, r.Name, r.Passed, r.Detail));
            BackendSelfCheck.Run(backend, shapes, seed, Small || entry.Simulated, (r, took) =>
            {
                console.WriteLine($"  {(r.Passed ? "ok  " : "FAIL")} {r.Name} ({took.TotalSeconds:F1} s)");
                Record(r);
            }, Losses);
        }

        var table = new Table().Border(TableBorder.Rounded).AddColumns("backend", "check", "result", "detail");
        foreach (var r in results)
            table.AddRow(Markup.Escape(r.Backend), Markup.Escape(r.Name), r.Passed ? "[green]ok[/]" : "[red]FAIL[/]", Markup.Escape(r.Detail));
        console.Write(table);
        if (Json is not null) BenchJson.Write(Json, results);

        int failed = results.Count(r => !r.Passed);
        console.WriteLine(failed == 0 ? $"selfcheck: all {results.Count} checks passed (seed {seed})" : $"selfcheck: {failed} of {results.Count} checks FAILED (seed {seed})");
        return failed == 0 ? 0 : CliHost.UserError;
    }
}
