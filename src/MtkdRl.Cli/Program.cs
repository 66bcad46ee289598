using CommandLine;
using MtkdRl.Cli;
using MtkdRl.Cli.Verbs;
using MtkdRl.Cli.Verbs.Bench;

JobConsole.PrepareStdout();
return JobConsole.Exit(CliHost.Run(args));

namespace MtkdRl.Cli
{
    using MtkdRl.Core;
    using Spectre.Console;

    /// <summary>Parses the verb, runs it, and turns every failure into one line and a non-zero exit code.</summary>
    public static class CliHost
    {
        /// <summary>Exit code for bad input or an unavailable backend: the user can fix it.</summary>
        public const int UserError = 1;
        /// <summary>Exit code for a bug: something the program should have handled.</summary>
        public const int InternalError = 70;
        /// <summary>Exit code for unknown verbs or options.</summary>
        public const int UsageError = 2;

        private static readonly Type[] Verbs =
            [typeof(InfoVerb), typeof(BenchVerb), typeof(DemoVerb), typeof(TeachersVerb), typeof(EvalVerb), typeof(DistillVerb), typeof(CompareVerb), typeof(SelfCheckVerb), typeof(DataVerb), typeof(ExportVerb)];

        private static readonly Type[] BenchTargets =
            [typeof(BenchKernelsVerb), typeof(BenchTrainVerb), typeof(BenchEpochVerb), typeof(BenchStrategiesVerb), typeof(BenchOnnxVerb)];

        public static int Run(string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
        {
            stderr ??= Console.Error;
            var console = CreateConsole(stdout);
            var parser = new Parser(s =>
            {
                s.HelpWriter = null;
                s.CaseInsensitiveEnumValues = true;
                s.AutoVersion = true;
            });
            try
            {
                // `bench` has verbs of its own: `mtkd bench kernels --help` lists the options of kernels alone.
                bool bench = args.Length > 0 && args[0] == "bench";
                var verbs = bench ? BenchTargets : Verbs;
                var result = parser.ParseArguments(bench ? BenchVerb.TargetArguments(args[1..]) : args, verbs);
                if (result is NotParsed<object> notParsed)
                    return VerbHelp.Write(notParsed, verbs, stdout ?? Console.Out, stderr, parser.Settings.MaximumDisplayWidth);
                return result.MapResult(
                    (InfoVerb v) => v.Run(console),
                    (BenchVerb _) => UsageError, // only listed for `mtkd --help`: `bench` itself goes to the targets above
                    (BenchKernelsVerb v) => v.Run(console),
                    (BenchTrainVerb v) => v.Run(console),
                    (BenchEpochVerb v) => v.Run(console),
                    (BenchStrategiesVerb v) => v.Run(console),
                    (BenchOnnxVerb v) => v.Run(console),
                    (DemoVerb v) => v.Run(console),
                    (TeachersVerb v) => v.Run(console),
                    (EvalVerb v) => v.Run(console),
                    (DistillVerb v) => v.Run(console),
                    (CompareVerb v) => v.Run(console),
                    (SelfCheckVerb v) => v.Run(console),
                    (DataVerb v) => v.Run(console),
                    (ExportVerb v) => v.Run(console),
                    _ => UsageError);
            }
            catch (MtkdException e)
            {
                stderr.WriteLine($"mtkd: error: {OneLine(e.Message)}");
                return UserError;
            }
            catch (Exception e) when (Environment.GetEnvironmentVariable("MTKD_DEBUG") != "1")
            {
                stderr.WriteLine($"mtkd: internal error: {e.GetType().Name}: {OneLine(e.Message)} (set MTKD_DEBUG=1 for the stack trace)");
                return InternalError;
            }
        }

        /// <summary>
        /// The console verbs write to: the terminal, or the given writer (tests). Output to a file or pipe, and any
        /// output under a launcher (<see cref="JobConsole.Launched"/>), gets plain lines at a fixed, generous width
        /// instead of a squeezed 80 columns.
        /// </summary>
        private static IAnsiConsole CreateConsole(TextWriter? stdout)
        {
            if (stdout is null && !Console.IsOutputRedirected && !JobConsole.Launched) return AnsiConsole.Console;
            var console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Out = new AnsiConsoleOutput(stdout ?? Console.Out),
                Ansi = AnsiSupport.No,
                ColorSystem = ColorSystemSupport.NoColors,
                Interactive = InteractionSupport.No,
            });
            console.Profile.Width = 160;
            return console;
        }

        private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
    }
}
