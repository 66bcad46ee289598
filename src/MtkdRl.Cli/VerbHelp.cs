using System.Reflection;
using CommandLine;
using CommandLine.Text;

namespace MtkdRl.Cli;

/// <summary>
/// What a command line that does not parse prints. A missing or unknown verb gets a short list, one line per verb
/// on stderr; everything else (--help, --version, a verb's bad options) gets CommandLineParser's own help text.
/// </summary>
public static class VerbHelp
{
    private const int SummaryWidth = 80;

    public static int Write(NotParsed<object> result, IReadOnlyList<Type> verbs, TextWriter stdout, TextWriter stderr, int width)
    {
        var errors = result.Errors.ToList();
        var unknown = errors.OfType<BadVerbSelectedError>().FirstOrDefault();
        if (unknown is not null || errors.Any(e => e.Tag == ErrorType.NoVerbSelectedError))
        {
            stderr.WriteLine(unknown is null ? "mtkd: no verb given; one of:" : $"mtkd: unknown verb '{unknown.Token}'; one of:");
            foreach (var verb in verbs.Select(v => v.GetCustomAttribute<VerbAttribute>()!))
                stderr.WriteLine($"  {verb.Name,-10} {Summary(verb.HelpText)}");
            stderr.WriteLine("`mtkd VERB --help` lists a verb's options.");
            return CliHost.UsageError;
        }
        stdout.Write(HelpText.AutoBuild(result, width));
        bool requested = errors.All(e => e.Tag is ErrorType.HelpRequestedError or ErrorType.VersionRequestedError or ErrorType.HelpVerbRequestedError);
        return requested ? 0 : CliHost.UsageError;
    }

    /// <summary>The first clause of a verb's help text, cut to one short line.</summary>
    public static string Summary(string help)
    {
        int end = help.Length;
        foreach (string stop in new[] { ". ", ": ", "; " })
        {
            int at = help.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && at < end) end = at;
        }
        string text = help[..end].TrimEnd('.');
        if (text.Length <= SummaryWidth) return text;
        int space = text.LastIndexOf(' ', SummaryWidth - 4);
        return text[..(space > 0 ? space : SummaryWidth - 4)] + " ...";
    }
}
