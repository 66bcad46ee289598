using System.Diagnostics;
using MtkdRl.Gpu.Cuda;

namespace MtkdRl.Tests.Gpu;

/// <summary>
/// tests/gpu/check.sh, which a GPU machine runs once per session, in its dry run on the CPU stand-ins: a bug in
/// the script must show here, not in scarce GPU time.
/// </summary>
public class GpuCheckScriptTests
{
    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "tests", "gpu", "check.sh"))) return dir.FullName;
        throw new InvalidOperationException($"no tests/gpu/check.sh above {AppContext.BaseDirectory}");
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, tool)));

    [Trait("Category", "Slow")]
    [SkippableFact]
    public void The_dry_run_runs_every_step_it_can_and_ends_with_the_table()
    {
        Skip.IfNot(OnPath("bash") && OnPath("python3") && OnPath("timeout"), "the script needs bash, python3 and timeout");
        var emulator = CudaEmulatorBackend.Probe();
        Skip.IfNot(emulator.Available, $"cuda-emu unavailable: {emulator.Detail}");
        string root = RepositoryRoot();
        string cli = Path.Combine(AppContext.BaseDirectory, "mtkd.dll");
        Assert.True(File.Exists(cli), $"{cli} is missing");
        string output = Directory.CreateTempSubdirectory("mtkd-gpu-check").FullName;

        var start = new ProcessStartInfo("bash", [Path.Combine(root, "tests", "gpu", "check.sh"), "--dry-run", "--fast"])
        {
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["OUT"] = output;
        start.Environment["MTKD"] = $"dotnet {cli}";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(10)), "the dry run did not finish in 10 minutes");
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}\n{stdout}\n{stderr.Result}");

        Assert.Contains("DRY RUN on the CPU (--dry-run)", stdout);
        var steps = File.ReadAllLines(Path.Combine(output, "steps.tsv")).Skip(1).Select(l => l.Split('\t')).ToDictionary(f => f[0], f => f[1]);
        Assert.Equal("ok", steps["info (dry run)"]);
        Assert.Equal("ok", steps["selfcheck (dry run)"]);
        Assert.Equal("ok", steps["bench-cuda (dry run)"]);
        Assert.Equal("skipped: --dry-run", steps["nvidia-smi (dry run)"]);
        Assert.Equal("skipped: needs a GPU", steps["memcheck (dry run)"]);

        // The table comes last, from the records the steps wrote.
        string summary = File.ReadAllText(Path.Combine(output, "summary.md"));
        Assert.Contains("self-check cuda-emu: 6 of 6 passed", summary);
        Assert.Contains("| 8,3,40,16 | cuda-emu |", summary);
        Assert.Contains("| 5,2,33,7 | cuda-emu |", summary);
        Assert.EndsWith("target 4096,16,1000,512: not measured in this run", summary.TrimEnd());
    }
}
