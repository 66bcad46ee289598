using System.Diagnostics;

namespace MtkdRl.Tests.Support;

/// <summary>Programs the tests run outside the test process: whether one is on PATH, and a run to its end.</summary>
public static class ExternalProcess
{
    public static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, tool)));

    /// <summary>Runs <paramref name="start"/> with its output captured; fails the test when it outlasts <paramref name="limit"/>.</summary>
    public static (int Exit, string Stdout, string Stderr) Run(ProcessStartInfo start, TimeSpan limit)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(limit), $"{Path.GetFileName(start.FileName)} {string.Join(' ', start.ArgumentList)} did not finish in {limit}");
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
