using CommandLine;
using MtkdRl.Core;

namespace MtkdRl.Cli.Verbs.Bench;

/// <summary>
/// `mtkd bench TARGET`: the targets are verbs of their own (<see cref="Targets"/>), each with only its options, so
/// `mtkd bench kernels --help` lists what kernels takes. This class is what `mtkd --help` lists.
/// </summary>
[Verb("bench", HelpText = "Benchmarks. `bench kernels`: the fused distillation op per backend and pass. `bench train --model SPEC`: a training step (forward + loss + backward) on the CPU. `bench epoch --teachers 4,16`: a distillation epoch from cached teacher outputs per pool size. `bench strategies [--strategy NAME|all] [-k K,...]`: what each weighting strategy adds per batch. `bench onnx --model SPEC`: a teacher through ONNX Runtime against mtkd's forward pass, importing against training. `mtkd bench TARGET --help` lists a target's options.")]
public sealed class BenchVerb
{
    public static readonly IReadOnlyList<string> Targets = ["kernels", "train", "epoch", "strategies", "onnx"];

    /// <summary>
    /// The arguments after `bench`, with the target spelled as the parser knows it; an unknown target is a one-line
    /// error rather than a usage screen.
    /// </summary>
    public static string[] TargetArguments(string[] afterBench)
    {
        if (afterBench.Length == 0 || afterBench[0].StartsWith('-') || afterBench[0] == "help") return afterBench;
        string target = Targets.FirstOrDefault(t => string.Equals(t, afterBench[0], StringComparison.OrdinalIgnoreCase))
            ?? throw new MtkdException($"bench: unknown target '{afterBench[0]}' (known: {string.Join(", ", Targets)})");
        return [target, .. afterBench[1..]];
    }
}

/// <summary>Options every bench target has.</summary>
public abstract class BenchOptions
{
    [Option("json", HelpText = "Also write the records as a JSON array to this file.")]
    public string? Json { get; set; }
}

/// <summary>Options of the targets that repeat a timed step: how often, after how much warm-up, within what budget.</summary>
public abstract class TimedBenchOptions : BenchOptions
{
    [Option('r', "repeat", Default = 50, HelpText = "Timed repetitions (fewer when --max-seconds would be exceeded).")]
    public int Repeat { get; set; } = 50;

    [Option("warmup", Default = 5, HelpText = "Untimed repetitions before timing.")]
    public int Warmup { get; set; } = 5;

    [Option("max-seconds", Default = 20.0, HelpText = "Time budget per pass or model; slow ones get fewer repetitions (at least 3).")]
    public double MaxSeconds { get; set; } = 20.0;

    [Option("seed", Default = 1234, HelpText = "Seed of the random inputs.")]
    public int Seed { get; set; } = 1234;
}
