using System.Diagnostics;
using MtkdRl.Core;
using MtkdRl.Distillation;
using MtkdRl.Teachers;
using MtkdRl.Tests.Cli;
using static MtkdRl.Tests.Cli.CliRun;

namespace MtkdRl.Tests.Faults;

/// <summary>The CLI under faults: a folder another process writes, kill -9 and resume, a disk that fills up.</summary>
[Collection("console")]
public class FaultCliTests(TinyPoolFixture fixture) : IClassFixture<TinyPoolFixture>
{
    private static readonly string[] Student = ["--student", "mlp:16", "--optimizer", "adam", "--lr", "0.003", "--batch", "50", "--threads", "1"];

    private string CachedPool()
    {
        lock (fixture)
        {
            if (!File.Exists(TeacherCache.PathOf(fixture.Pool, "train")))
                AssertOk(Run("teachers", "cache", "--pool", fixture.Pool, "--data", fixture.DataDir));
        }
        return fixture.Pool;
    }

    private string[] Distill(string outDir, int epochs, params string[] more) =>
        ["distill", "--data", fixture.DataDir, "--pool", CachedPool(), "--strategy", "mtkd-rl-paper", "--epochs", $"{epochs}", "--out", outDir, .. Student, .. more];

    private static string Listing(string folder) =>
        string.Join(",", Directory.GetFileSystemEntries(folder, "*", SearchOption.AllDirectories).Order());

    [Theory]
    [InlineData("distill --out @F")]
    [InlineData("compare --out @F --strategies aver --seeds 1 --epochs 1")]
    [InlineData("demo --out @F --seeds 1 --epochs 1")]
    [InlineData("teachers train --pool @P --epochs 1")]
    [InlineData("teachers cache --pool @P")]
    [InlineData("teachers import --pool @P --name ext --train-logits a.npy --train-embeddings b.npy --test-logits c.npy")]
    public void A_verb_refuses_a_folder_another_owner_writes_with_one_line_naming_it_and_the_pid(string command)
    {
        string pool = CachedPool();
        // The pool verbs get a copy of the shared pool, so that a verb that failed to refuse spoils no other test.
        string folder = fixture.Folder.Sub("owned-" + Guid.NewGuid().ToString("N")[..6]);
        if (command.Contains("@P"))
        {
            foreach (string f in Directory.GetFiles(pool)) File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
            pool = folder;
        }
        var args = command.Replace("@F", folder).Replace("@P", pool).Split(' ')
            .Concat(["--data", fixture.DataDir]).Concat(command.StartsWith("distill") ? ["--pool", pool] : [])
            .Concat(command.StartsWith("compare") ? ["--pool", pool, "--student", "mlp:16"] : []).ToArray();
        using var owner = FolderLock.Acquire(folder);
        string before = Listing(folder);
        AssertOneLineError(Run(args), $"{folder}: in use by another mtkd process (pid {Environment.ProcessId}");
        Assert.Equal(before, Listing(folder));
    }

    /// <summary>Starts `distill` in a child process and waits until it has finished <paramref name="epochs"/> epochs.</summary>
    private Process StartDistill(string outDir, int totalEpochs, int epochs)
    {
        string metrics = Path.Combine(outDir, "metrics.jsonl");
        var child = Processes.StartMtkd(Distill(outDir, totalEpochs));
        child.OutputDataReceived += (_, _) => { };
        child.BeginOutputReadLine();
        var clock = Stopwatch.StartNew();
        while (!File.Exists(metrics) || File.ReadAllLines(metrics).Length < epochs)
        {
            if (child.HasExited) Assert.Fail($"the child distill ended early: {child.StandardError.ReadToEnd()}");
            if (clock.Elapsed.TotalSeconds > 120) { child.Kill(); Assert.Fail("the child distill wrote no epoch in two minutes"); }
            Thread.Sleep(10);
        }
        return child;
    }

    [Fact]
    public void A_second_distill_into_the_folder_of_a_running_one_is_refused_with_one_line_naming_its_pid()
    {
        string outDir = fixture.Folder.Sub("busy-" + Guid.NewGuid().ToString("N")[..6]);
        using var first = StartDistill(outDir, 1000, 1);
        try
        {
            AssertOneLineError(Run(Distill(outDir, 1000, "--resume")), $"{outDir}: in use by another mtkd process (pid {first.Id}");
            Assert.False(first.HasExited);
        }
        finally
        {
            first.Kill();
            first.WaitForExit();
        }
    }

    [Fact]
    public void A_distill_killed_with_sigkill_resumes_to_the_metrics_of_the_uninterrupted_run()
    {
        const int epochs = 30;
        string killed = fixture.Folder.Sub("killed-" + Guid.NewGuid().ToString("N")[..6]);
        string straight = fixture.Folder.Sub("straight-" + Guid.NewGuid().ToString("N")[..6]);
        string metrics = Path.Combine(killed, "metrics.jsonl");
        using (var first = StartDistill(killed, epochs, 1))
        {
            first.Kill(); // SIGKILL: no cleanup of any kind
            first.WaitForExit();
        }
        int done = File.ReadAllLines(metrics).Length;
        Assert.True(done < epochs, $"the run finished ({done} epochs) before it was killed");

        AssertOk(Run(Distill(killed, epochs, "--resume")));
        AssertOk(Run(Distill(straight, epochs)));
        var resumed = JsonFiles.ReadLines<DistillEpochMetrics>(metrics).ToList();
        var full = JsonFiles.ReadLines<DistillEpochMetrics>(Path.Combine(straight, "metrics.jsonl")).ToList();
        Assert.Equal(epochs, resumed.Count);
        Assert.Equal(full.Select(m => (m.Epoch, m.Loss, m.TrainAcc, m.TestAcc)), resumed.Select(m => (m.Epoch, m.Loss, m.TrainAcc, m.TestAcc)));
        Assert.Empty(Directory.GetFiles(killed, ".*"));
    }

    [SkippableFact]
    public void Teachers_cache_onto_a_full_disk_is_one_line_and_leaves_nothing_behind()
    {
        string source = CachedPool();
        var files = Directory.GetFiles(source).Where(f => !f.EndsWith(".mtkc")).ToList();
        long poolPages = files.Sum(f => (new FileInfo(f).Length + 4095) / 4096);
        long cachePages = new FileInfo(TeacherCache.PathOf(source, "train")).Length / 4096;
        Assert.True(cachePages > 8, "the train cache is too small to overflow the disk");
        // Room for the pool and a few pages, not for the train cache.
        using var disk = TinyDisk.Mount((poolPages + cachePages / 2) * 4096);
        string pool = Path.Combine(disk.Root, "pool");
        Directory.CreateDirectory(pool);
        foreach (string f in files) File.Copy(f, Path.Combine(pool, Path.GetFileName(f)));

        // A child process: on a sparse mapping the old writer died of SIGBUS, which would take the test host with it.
        var (code, _, err) = Processes.Mtkd("teachers", "cache", "--pool", pool, "--data", fixture.DataDir, "--threads", "1");

        Assert.True(code == 1, $"exit {code}; stderr: {err}");
        Assert.Single(err.TrimEnd('\n').Split('\n'));
        Assert.Matches($"^mtkd: error: {System.Text.RegularExpressions.Regex.Escape(TeacherCache.PathOf(pool, "train"))}: not enough disk space: needs [0-9]+ bytes, [0-9]+ bytes free$", err.TrimEnd('\n'));
        Assert.Equal(files.Select(Path.GetFileName).Order(), Directory.GetFileSystemEntries(pool).Select(Path.GetFileName).Order());
    }
}
