using System.Diagnostics;
using System.Text.Json;
using MtkdRl.Core.Cluster;
using MtkdRl.Teachers;
using MtkdRl.Tests.Cli;
using static MtkdRl.Tests.Cli.CliRun;

namespace MtkdRl.Tests.Cluster;

/// <summary>`mpirun -np 2 mtkd distill`: data-parallel steps against the single process, resume with another rank count, a killed rank.</summary>
[Collection("console")]
public class DistillClusterTests(TinyPoolFixture fixture) : IClassFixture<TinyPoolFixture>
{
    private static readonly TimeSpan Timeout = MpiRun.Timeout;
    private static readonly string[] Student = MpiRun.Student;

    /// <summary>
    /// Measured on the tiny dataset (mlp:16, no batch normalisation, 2 epochs): the final loss of 2 ranks differs
    /// from one process's by about 1e-9 relative (float sums in another order) and the accuracies are equal; the
    /// bounds leave room for other machines' summation orders, not for a wrong gradient (a rank's gradient left
    /// unsummed doubles or halves the step and moves the loss by percents).
    /// </summary>
    private const double LossTolerance = 1e-4, AccuracyTolerance = 0.02;

    private string CachedPool()
    {
        lock (fixture)
        {
            if (!File.Exists(TeacherCache.PathOf(fixture.Pool, "train")))
                CliRun.AssertOk(Run("teachers", "cache", "--pool", fixture.Pool, "--data", fixture.DataDir, "--threads", "1"));
        }
        return fixture.Pool;
    }

    private static (double Loss, double TrainAcc, double TestAcc) Final(string runDir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllLines(Path.Combine(runDir, "metrics.jsonl"))[^1]);
        var e = doc.RootElement;
        return (e.GetProperty("loss").GetDouble(), e.GetProperty("train_acc").GetDouble(), e.GetProperty("test_acc").GetDouble());
    }

    private static void AssertClose((double Loss, double TrainAcc, double TestAcc) one, (double Loss, double TrainAcc, double TestAcc) two)
    {
        Assert.True(Math.Abs(one.Loss - two.Loss) <= LossTolerance * Math.Abs(one.Loss), $"loss {two.Loss} against one process's {one.Loss}");
        Assert.True(Math.Abs(one.TrainAcc - two.TrainAcc) <= AccuracyTolerance, $"train accuracy {two.TrainAcc} against {one.TrainAcc}");
        Assert.True(Math.Abs(one.TestAcc - two.TestAcc) <= AccuracyTolerance, $"test accuracy {two.TestAcc} against {one.TestAcc}");
    }

    [SkippableTheory]
    [InlineData("none")]
    [InlineData("aver")]
    [InlineData("mtkd-rl-paper")]
    public void Two_ranks_keep_the_same_weights_and_end_where_one_process_ends(string strategy)
    {
        MpiRun.SkipWithoutMpirun();
        string pool = CachedPool();
        string one = fixture.Folder.Sub($"dp1-{strategy}-{Guid.NewGuid():N}"[..24]), two = fixture.Folder.Sub($"dp2-{strategy}-{Guid.NewGuid():N}"[..24]);
        string[] common = ["distill", "--data", fixture.DataDir, "--pool", pool, "--strategy", strategy, "--epochs", "2", .. Student];
        CliRun.AssertOk(Run([.. common, "--out", one]));
        var run = MpiRun.Mtkd(2, Timeout, [.. common, "--out", two, "--check-replicas"]);
        Assert.True(run.Code == 0, $"exit {run.Code}; stderr: {run.Err}; stdout: {run.Out}");
        AssertClose(Final(one), Final(two));
        Assert.Equal(2, File.ReadAllLines(Path.Combine(two, "metrics.jsonl")).Length);
        // The ranks' stdout is a pseudo-terminal, mpirun's a pipe: plain lines, no terminal control sequences.
        Assert.DoesNotContain('\x1b', run.Out);
        Assert.Single(run.Out.Split('\n'), line => line.StartsWith("wrote ", StringComparison.Ordinal) && line.Contains("metrics.jsonl", StringComparison.Ordinal));
    }

    [SkippableFact]
    public void A_batch_that_does_not_split_over_the_ranks_is_one_line()
    {
        MpiRun.SkipWithoutMpirun();
        string pool = CachedPool();
        var run = MpiRun.Mtkd(2, Timeout, "distill", "--data", fixture.DataDir, "--pool", pool, "--strategy", "aver", "--epochs", "1", "--student", "mlp:16",
            "--batch", "49", "--threads", "1", "--out", fixture.Folder.Sub("odd-" + Guid.NewGuid().ToString("N")[..6]));
        Assert.NotEqual(0, run.Code);
        Assert.Contains("mtkd: error: --batch 49 does not split over 2 ranks", run.Err);
    }

    [SkippableFact]
    public void A_killed_rank_stops_the_job_with_one_line_and_the_run_resumes_on_one_rank()
    {
        MpiRun.SkipWithoutMpirun();
        string pool = CachedPool(), outDir = fixture.Folder.Sub("killed-" + Guid.NewGuid().ToString("N")[..6]);
        string[] common = ["distill", "--data", fixture.DataDir, "--pool", pool, "--strategy", "mtkd-rl-ppo", "--epochs", "60", .. Student, "--out", outDir];
        using var mpirun = new Process { StartInfo = MpiRun.StartInfo(2, common) };
        var stdoutLines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var firstEpoch = new ManualResetEventSlim();
        mpirun.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            stdoutLines.Enqueue(e.Data);
            if (e.Data.Contains("epoch 1:", StringComparison.Ordinal)) firstEpoch.Set();
        };
        mpirun.Start();
        mpirun.BeginOutputReadLine();
        var stderr = mpirun.StandardError.ReadToEndAsync();
        Assert.True(firstEpoch.Wait(Timeout), $"no first epoch: {string.Join('\n', stdoutLines)}");
        int rank1;
        try
        {
            rank1 = RankPid(outDir, 1);
        }
        catch (InvalidOperationException e)
        {
            mpirun.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{e.Message}; stderr: {stderr.Result}; stdout: {string.Join('\n', stdoutLines)}");
        }
        Process.GetProcessById(rank1).Kill();
        bool ended = mpirun.WaitForExit(TimeSpan.FromSeconds(60));
        if (!ended) mpirun.Kill(entireProcessTree: true);
        Assert.True(ended, "the job still runs 60 s after a rank was killed");
        Assert.NotEqual(0, mpirun.ExitCode);
        var ours = stderr.Result.Split('\n').Where(l => l.StartsWith("mtkd", StringComparison.Ordinal)).ToList();
        Assert.Equal([MpiCommunicator.StoppedMessage], ours);

        // The checkpoint is the single process's: one process continues it to the end.
        int done = File.ReadAllLines(Path.Combine(outDir, "metrics.jsonl")).Length;
        Assert.InRange(done, 1, 59);
        string[] resume = ["distill", "--data", fixture.DataDir, "--pool", pool, "--strategy", "mtkd-rl-ppo", "--epochs", "60", .. Student, "--out", outDir, "--resume"];
        CliRun.AssertOk(Run(resume));
        Assert.Equal(Enumerable.Range(1, 60), File.ReadAllLines(Path.Combine(outDir, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("epoch").GetInt32()));
        Assert.True(File.Exists(Path.Combine(outDir, "summary.json")));
    }

    /// <summary>The pid of the rank <paramref name="rank"/> whose command line names <paramref name="outDir"/> (the rank Open MPI put in its environment).</summary>
    private static int RankPid(string outDir, int rank)
    {
        var find = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true };
        find.ArgumentList.Add("-c");
        find.ArgumentList.Add($"for p in $(pgrep -f -- \"$1\"); do tr '\\0' '\\n' < /proc/$p/environ | grep -qx OMPI_COMM_WORLD_RANK={rank} && echo $p; done; ps -eo pid,ppid,stat,args | grep -v grep | grep mtkd.dll | cut -c1-120 >&2; true");
        find.ArgumentList.Add("find-rank");
        find.ArgumentList.Add(outDir);
        using var p = Process.Start(find)!;
        var listing = p.StandardError.ReadToEndAsync();
        string found = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        var pids = found.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return pids.Length == 1 ? int.Parse(pids[0]) : throw new InvalidOperationException($"rank {rank} on {outDir}: found pids [{string.Join(" ", pids)}]; {listing.Result}");
    }
}
