using System.Diagnostics;
using MtkdRl.Tests.Data;

namespace MtkdRl.Tests.Gpu;

/// <summary>
/// tests/gpu/check.sh, which a GPU machine runs once per loan, in its dry run on the CPU stand-ins: a bug in the
/// script must show here, not in scarce GPU time. The whole dry run, every step the CPU can run; and runs cut
/// short, by a step's time limit or by a SIGTERM to the script, must still end with the table of what finished.
/// </summary>
public class GpuCheckScriptTests
{
    private sealed record Run(int ExitCode, string Stdout, string Stderr, string Output)
    {
        public Dictionary<string, string> Steps => File.ReadAllLines(Path.Combine(Output, "steps.tsv")).Skip(1)
            .Select(l => l.Split('\t')).ToDictionary(f => f[0], f => f[1]);

        public string Summary => File.ReadAllText(Path.Combine(Output, "summary.md"));

        public string[] Lines(string file) =>
            File.Exists(Path.Combine(Output, file)) ? File.ReadAllLines(Path.Combine(Output, file)).Where(l => l.Length > 0).ToArray() : [];

        public override string ToString() => $"exit {ExitCode}\n{Stdout}\n{Stderr}";
    }

    private static Process Start(string output, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        string cli = GpuScripts.EmulatedCli();
        string[] command = args is ["--driver", var driver] ? ["-c", driver] : [GpuScripts.Script("check.sh"), .. args];
        var start = new ProcessStartInfo("bash", command)
        {
            WorkingDirectory = RepositoryPaths.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["OUT"] = output;
        start.Environment["MTKD"] = $"dotnet {cli}";
        foreach (var (key, value) in environment) start.Environment[key] = value;
        return Process.Start(start)!;
    }

    private static Run Finish(Process process, string output, TimeSpan limit)
    {
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        Assert.True(process.WaitForExit(limit), $"the dry run did not finish in {limit}");
        return new Run(process.ExitCode, stdout.Result, stderr.Result, output);
    }

    [Trait("Category", "Slow")]
    [SkippableFact]
    public void The_dry_run_runs_every_step_the_cpu_can_within_300_seconds_and_ends_with_the_table()
    {
        string output = Directory.CreateTempSubdirectory("mtkd-gpu-check").FullName;
        var clock = Stopwatch.StartNew();
        using var process = Start(output, new Dictionary<string, string>(), "--dry-run");
        var run = Finish(process, output, TimeSpan.FromMinutes(8));
        Assert.True(run.ExitCode == 0, run.ToString());

        Assert.Contains("DRY RUN on the CPU (--dry-run)", run.Stdout);
        var steps = run.Steps;
        foreach (var name in new[] { "info", "selfcheck", "selfcheck-ilgpu", "bench-cuda", "bench-ilgpu" })
            Assert.True(steps[$"{name} (dry run)"] == "ok", $"{name}: {steps[$"{name} (dry run)"]}\n{run}");
        foreach (var name in new[] { "torch-eager", "torch-compile" })
        {
            string status = steps[$"{name} (dry run)"];
            Assert.True(status == "ok" || status.StartsWith("skipped: no python here can import torch", StringComparison.Ordinal), $"{name}: {status}");
        }
        Assert.Equal("skipped: --dry-run", steps["card (dry run)"]);
        foreach (var tool in new[] { "memcheck", "racecheck", "synccheck" })
            Assert.Equal("skipped: needs a GPU", steps[$"{tool} (dry run)"]);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(300), $"the dry run took {clock.Elapsed}");

        string runInfo = File.ReadAllText(Path.Combine(output, "run.txt"));
        Assert.Contains("libcuda: ", runInfo);
        Assert.Contains("driver: ", runInfo);
        Assert.Contains("budget: 300s", runInfo);
        // The CLI's source: a published one names its commit (build.ps1 publish writes build.txt), the dry run's does not.
        Assert.Contains("build: not a published build (dotnet ", runInfo);

        // Every result went to its JSON lines, and the table comes last, from them.
        Assert.Equal(6, run.Lines("selfcheck-cuda.jsonl").Length);
        Assert.Equal(5, run.Lines("selfcheck-ilgpu.jsonl").Length);
        Assert.Equal(12, run.Lines("bench-cuda.jsonl").Length);
        string summary = run.Summary;
        Assert.Contains("self-check cuda-emu: 6 of 6 passed", summary);
        Assert.Contains("self-check ilgpu: 5 of 5 passed", summary);
        Assert.Contains("| 8,3,40,16 | cuda-emu |", summary);
        Assert.Contains("| 5,2,33,7 | ilgpu-cpu |", summary);
        Assert.Contains("| 6,4,11,16 | cuda-emu |", summary); // the stand-in for the dense shape
        Assert.Contains("| 6,4,11,16 | ilgpu-cpu |", summary);
        Assert.Contains("| 8,4,11,16/4 | cuda-emu |", summary); // the stand-in for the dense step, features once per image
        Assert.Contains("| 8,4,11,16/4 | ilgpu-cpu |", summary);
        Assert.EndsWith("target 4096,16,1000,512: not measured in this run", summary.TrimEnd());
    }

    [Trait("Category", "Slow")]
    [SkippableFact]
    public void Steps_cut_short_by_their_time_limit_still_leave_their_results_and_the_table()
    {
        string output = Directory.CreateTempSubdirectory("mtkd-gpu-check").FullName;
        // The self-checks outlast their limit on any machine: mtkd runs, then its process waits (a fast machine finished
        // the dry run's self-check within 6 s). What it wrote before the limit struck must stay.
        string slow = Path.Combine(output, "slow-selfcheck.sh");
        File.WriteAllText(slow, """
            "$@"
            rc=$?
            case " $* " in *" selfcheck "*) exec sleep 120 ;; esac
            exit $rc
            """);
        using var process = Start(output, new Dictionary<string, string>
        {
            ["CHECK_STEP_TIMEOUT_S"] = "6",
            ["MTKD"] = $"bash {slow} dotnet {GpuScripts.EmulatedCli()}",
        }, "--dry-run", "--fast");
        var run = Finish(process, output, TimeSpan.FromMinutes(3));
        Assert.True(run.ExitCode != 0, run.ToString());
        Assert.Equal("TIMEOUT after 6s", run.Steps["selfcheck (dry run)"]);
        int finished = run.Lines("selfcheck-cuda.jsonl").Length;
        Assert.InRange(finished, 0, 6);
        Assert.Contains(finished > 0 ? $"self-check cuda-emu: {finished} of {finished} passed" : "no result recorded", run.Summary);
        Assert.Contains("| selfcheck (dry run) | TIMEOUT after 6s |", run.Summary);
        Assert.Contains("step(s) failed", run.Stdout.TrimEnd().Split('\n')[^1]);
    }

    /// <summary>
    /// The run is started and sent SIGTERM by a bash driver, as a machine's time limit would (from the test host
    /// directly, .NET's own signal handling gets in the way), once two self-check results exist.
    /// </summary>
    [Trait("Category", "Slow")]
    [SkippableFact]
    public void A_run_terminated_mid_step_writes_the_table_of_what_finished()
    {
        string output = Directory.CreateTempSubdirectory("mtkd-gpu-check").FullName;
        string script = GpuScripts.Script("check.sh");
        string driver = $$"""
            bash '{{script}}' --dry-run --fast > '{{output}}/stdout.txt' 2>&1 &
            pid=$!
            for i in $(seq 1 600); do
              [ "$(cat '{{output}}/selfcheck-cuda.jsonl' 2>/dev/null | wc -l)" -ge 2 ] && break
              kill -0 $pid 2>/dev/null || break
              sleep 0.2
            done
            kill -TERM $pid
            wait $pid
            echo "exit $?"
            """;
        using var process = Start(output, new Dictionary<string, string>(), "--driver", driver);
        var run = Finish(process, output, TimeSpan.FromMinutes(3));
        string stdout = File.ReadAllText(Path.Combine(output, "stdout.txt"));
        Assert.True(run.Stdout.Trim() == "exit 124", $"{run}\n{stdout}");
        Assert.StartsWith("INTERRUPTED", run.Steps["interrupted (dry run)"]);
        int finished = run.Lines("selfcheck-cuda.jsonl").Length;
        Assert.True(finished >= 2, $"{finished} results");
        Assert.Contains($"self-check cuda-emu: {finished} of {finished} passed", run.Summary);
        Assert.Contains("step(s) failed", stdout.TrimEnd().Split('\n')[^1]);
    }
}
