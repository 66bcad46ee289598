using MtkdRl.Cli;

namespace MtkdRl.Tests.Cli;

/// <summary>Runs the CLI in-process with captured output, and the assertions every CLI test shares.</summary>
public static class CliRun
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var err = new StringWriter();
        int code = CliHost.Run(args, output, err);
        return (code, output.ToString(), err.ToString());
    }

    public static void AssertOk((int Code, string Out, string Err) run) =>
        Assert.True(run.Code == 0, $"exit {run.Code}; stderr: {run.Err}; stdout: {run.Out}");

    /// <summary>Exit code 1, and stderr is exactly one line "mtkd: error: ..." holding <paramref name="expected"/>.</summary>
    public static void AssertOneLineError((int Code, string Out, string Err) run, string expected)
    {
        Assert.True(run.Code == CliHost.UserError, $"exit {run.Code}; stderr: {run.Err}; stdout: {run.Out}");
        Assert.StartsWith("mtkd: error: ", run.Err);
        Assert.Single(run.Err.TrimEnd('\n').Split('\n'));
        Assert.True(run.Err.Contains(expected, StringComparison.Ordinal), $"expected '{expected}' in: {run.Err}");
    }
}
