using CommandLine;
using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs.Bench;

[Verb("train", HelpText = "A training step of a model spec (forward + loss + backward + optimiser) on the CPU.")]
public sealed class BenchTrainVerb : TimedBenchOptions
{
    public static readonly string[] DefaultModels = ["mlp:512x512", "cnn:32x64"];

    [Option('m', "model", Separator = ';', HelpText = "Model specs separated by ';' (default: mlp:512x512;cnn:32x64), e.g. mlp:64 or cnn:32x64,fc256.")]
    public IEnumerable<string> Models { get; set; } = [];

    [Option("batch", Default = 128, HelpText = "Samples per step.")]
    public int Batch { get; set; } = 128;

    [Option("input", Default = "1x28x28", HelpText = "Shape of one sample, ChxHxW or D.")]
    public string Input { get; set; } = "1x28x28";

    [Option("classes", Default = 10, HelpText = "Number of classes.")]
    public int Classes { get; set; } = 10;

    [Option("threads", Default = 0, HelpText = "CPU threads (0: every core).")]
    public int Threads { get; set; }

    public int Run(IAnsiConsole console)
    {
        var specs = (Models.Any() ? Models : DefaultModels).Select(m => ModelSpec.Parse(m, "--model")).ToList();
        if (Batch <= 0) throw new MtkdException($"--batch must be positive (got {Batch})");
        if (Classes < 2) throw new MtkdException($"--classes must be at least 2 (got {Classes})");
        var options = new TrainStepOptions(Batch, Repeat, Warmup, MaxSeconds, SampleShape.Parse(Input), Classes, (ulong)Seed);
        BenchJson.Reserve(Json);
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
            BenchJson.Write(Json, records);
            console.MarkupLine($"wrote {Markup.Escape(Json)}");
        }
        return 0;
    }
}
