using MtkdRl.Core.Cluster;
using Spectre.Console;

namespace MtkdRl.Cli;

/// <summary>
/// Output and exit under an MPI launcher: rank 0 prints (progress, tables, the files written), the other ranks
/// are silent; a rank that ends with an error ends the whole job (MPI_Abort), so no rank waits forever in a
/// collective for it.
/// </summary>
public static class JobConsole
{
    /// <summary>
    /// Whether a launcher (mpirun, srun) started this process. Its stdout is then a pseudo-terminal that the launcher
    /// forwards to wherever its own output goes (a terminal, a log file, a pipe), so the CLI writes plain lines
    /// there: no colours, no live progress, no wrapping at the pseudo-terminal's 80 columns.
    /// </summary>
    public static bool Launched { get; } = Launcher.Detect() is not null;

    /// <summary>
    /// Called before the console is first used: under a launcher the runtime is told the terminal is dumb, so it
    /// writes no terminal control sequences (the keypad mode it sets on a terminal, the colour reset at exit).
    /// </summary>
    public static void PrepareStdout()
    {
        if (Launched) Environment.SetEnvironmentVariable("TERM", "dumb");
    }

    /// <summary><paramref name="console"/> on rank 0 (and without a launcher), a console that writes nowhere on the other ranks.</summary>
    public static IAnsiConsole For(IAnsiConsole console, ICommunicator job) =>
        job.IsRoot ? console : AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(TextWriter.Null),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });

    /// <summary>The process's exit code; a failing rank of a job of several aborts the job instead of returning.</summary>
    public static int Exit(int code)
    {
        if (code != 0 && Job.UsesMpi && Job.World.Size > 1)
        {
            Console.Out.Flush();
            Console.Error.Flush();
            MpiCommunicator.Abort(code);
        }
        return code;
    }
}
