using CommandLine;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

[Verb("demo", HelpText = "The main job: train a teacher pool, distill with several strategies, write a report.")]
public sealed class DemoVerb
{
    [Option("out", HelpText = "Folder for the report.", Default = "runs/demo")]
    public string Out { get; set; } = "runs/demo";

    public int Run(IAnsiConsole console)
    {
        console.WriteLine("mtkd demo: the training stack (data, networks, teacher pool, agents) is not built yet.");
        console.WriteLine("What runs today: `mtkd info` (backends and devices) and `mtkd bench kernels` (the fused distillation op on every backend).");
        return 0;
    }
}
