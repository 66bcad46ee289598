using CommandLine;
using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs.Bench;

[Verb("kernels", HelpText = "The fused distillation op per backend and pass (stats, gradient, fused): median and p20/p80 ms, bytes moved, GB/s, and the largest relative error against the float64 reference.")]
public sealed class BenchKernelsVerb : TimedBenchOptions
{
    [Option('b', "backend", Default = "all", HelpText = "A backend name from `mtkd info`, or all (the best variant of each family; CPU simulators only when named).")]
    public string Backend { get; set; } = "all";

    [Option('s', "shape", Separator = ';', HelpText = "B,K,C,D shapes separated by ';', or B,K,C,D/N for a dense step of N images (the features once per image) (default: 256,4,100,256;256,16,100,256;1024,8,1000,512;256,64,100,128;65536,4,11,16;65536,4,11,16/16, the last two 16 images of 64x64 pixels).")]
    public IEnumerable<string> Shapes { get; set; } = [];

    [Option("jsonl", HelpText = "Append each record to this file as one JSON line as soon as it is measured (a run cut short keeps what finished).")]
    public string? JsonLines { get; set; }

    [Option("threads", Default = 0, HelpText = "CPU threads of the native op (0: every core).")]
    public int Threads { get; set; }

    [Option("kd-loss", HelpText = "Logit divergence the op fuses: kl (default), reverse-kl, jsd[:beta], dkd[:alpha,beta]; backends that lack it are skipped with their reason.")]
    public string? KdLoss { get; set; }

    [Option("feature-loss", HelpText = "Feature loss the op fuses: mse (default), cosine, smooth-l1.")]
    public string? FeatureLoss { get; set; }

    public int Run(IAnsiConsole console)
    {
        if (Repeat < 1) throw new MtkdException($"--repeat must be at least 1 (got {Repeat})");
        if (Warmup < 0) throw new MtkdException($"--warmup must be at least 0 (got {Warmup})");
        var shapes = BenchShapes.ParseAllKernel(Shapes, BenchShapes.KernelDefaults);
        var hyper = DistillHyper.Default with { Loss = DistillLossCatalog.Parse(KdLoss, FeatureLoss) };
        void Skipped(string why) => console.MarkupLine($"[yellow]{Markup.Escape(why)}[/]");
        BackendCatalog.Select(Backend); // an unknown name fails before the JSON file is touched
        BenchJson.Reserve(Json); // fail on an unwritable path before an hour of timing
        var entries = KernelBenchmark.Available(Backend, Skipped);

        var records = new List<KernelBenchRecord>();
        var options = new KernelBenchOptions(Repeat, Warmup, Seed, MaxSeconds, hyper);
        foreach (var entry in entries)
        {
            // --threads bounds the native op's team, so its figures can be read against single-threaded epochs.
            using var backend = BackendCatalog.WithThreads(entry.Create(), Threads);
            if (!backend.Supports(hyper.Loss))
            {
                Skipped($"{entry.Name}: skipped ({DistillLossSupport.Refusal(backend.Name, hyper.Loss).Message})");
                continue;
            }
            foreach (var shape in shapes)
            {
                console.Status().Start($"{entry.Name} {shape}", ctx =>
                {
                    foreach (var r in KernelBenchmark.Run(entry, backend, shape, options, msg => ctx.Status(Markup.Escape(msg))))
                    {
                        records.Add(r);
                        if (JsonLines is not null) BenchJson.AppendLine(JsonLines, r);
                    }
                });
            }
        }
        if (!hyper.Loss.IsDefault) console.WriteLine($"loss: {hyper.Loss}");
        console.Write(BenchTable.Render(records));
        if (Json is not null)
        {
            BenchJson.Write(Json, records);
            console.MarkupLine($"wrote {Markup.Escape(Json)}");
        }
        return 0;
    }
}
