using System.Diagnostics;

namespace MtkdRl.Tests.Cluster;

/// <summary>
/// The CLI (the mtkd.dll built beside the tests) started by Open MPI's mpirun with N ranks on this machine.
/// Tests that need it skip, with the reason, where mpirun is not installed.
/// </summary>
public static class MpiRun
{
    /// <summary>The longest a two-rank command on the tiny dataset may take before the test fails.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    /// <summary>A small student, one compute thread per rank, a batch of 50 (25 rows per rank over two).</summary>
    public static readonly string[] Student = ["--student", "mlp:16", "--optimizer", "adam", "--lr", "0.003", "--batch", "50", "--threads", "1"];

    public static readonly string? Mpirun = Environment.GetEnvironmentVariable("PATH")?.Split(':')
        .Select(dir => Path.Combine(dir, "mpirun")).FirstOrDefault(File.Exists);

    public static void SkipWithoutMpirun() =>
        Skip.If(Mpirun is null, "mpirun is not installed (Debian: openmpi-bin libopenmpi-dev); the multi-process tests need it");

    public static ProcessStartInfo StartInfo(int ranks, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(Mpirun!) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in (string[])["--allow-run-as-root", "--oversubscribe", "-np", $"{ranks}", "dotnet", Path.Combine(AppContext.BaseDirectory, "mtkd.dll")])
            info.ArgumentList.Add(a);
        foreach (string a in args) info.ArgumentList.Add(a);
        // Open MPI's default shared-memory transport needs no network; keep it off the machine's interfaces.
        info.Environment["OMPI_MCA_btl"] = "self,vader";
        info.Environment["MTKD_DEBUG"] = "0";
        return info;
    }

    /// <summary>Runs `mpirun -np <paramref name="ranks"/> mtkd ARGS` and waits at most <paramref name="timeout"/>; a run past it fails the test.</summary>
    public static (int Code, string Out, string Err) Mtkd(int ranks, TimeSpan timeout, params string[] args)
    {
        using var p = Process.Start(StartInfo(ranks, args))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"mpirun -np {ranks} mtkd {string.Join(' ', args)} ran past {timeout.TotalSeconds} s");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
