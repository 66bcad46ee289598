using CommandLine;
using MtkdRl.Backends;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

[Verb("info", HelpText = "Backends found (and why a missing one is missing), CPU SIMD features, CUDA devices, versions.")]
public sealed class InfoVerb
{
    public int Run(IAnsiConsole console)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumn("section").AddColumn("item").AddColumn("value");
        foreach (var item in SystemInfo.Collect())
            table.AddRow(Markup.Escape(item.Section), Markup.Escape(item.Key), Markup.Escape(item.Value));
        console.Write(table);
        return 0;
    }
}
