using System.Text.Json.Nodes;
using MtkdRl.Teachers;
using MtkdRl.Tests.Cli;
using static MtkdRl.Tests.Cli.CliRun;

namespace MtkdRl.Tests.Cluster;

/// <summary>`mpirun -np 2 mtkd teachers cache|compare`: the files equal a single process's.</summary>
[Collection("console")]
public class ClusterCliTests(TinyPoolFixture fixture) : IClassFixture<TinyPoolFixture>
{
    private static readonly TimeSpan Timeout = MpiRun.Timeout;
    private static readonly string[] Student = MpiRun.Student;

    /// <summary>A copy of the fixture's trained pool without caches, in a folder of its own.</summary>
    private string PoolCopy(string name)
    {
        string copy = fixture.Folder.Sub(name + "-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(copy);
        foreach (string f in Directory.GetFiles(fixture.Pool).Where(f => !f.EndsWith(".mtkc", StringComparison.Ordinal) && !Path.GetFileName(f).StartsWith('.')))
            File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        return copy;
    }

    private static void AssertRanOk((int Code, string Out, string Err) run, string what) =>
        Assert.True(run.Code == 0, $"{what}: exit {run.Code}; stderr: {run.Err}; stdout: {run.Out}");

    [SkippableFact]
    public void Teachers_cache_from_two_ranks_is_byte_for_byte_the_single_process_one()
    {
        MpiRun.SkipWithoutMpirun();
        string one = PoolCopy("cache1"), two = PoolCopy("cache2");
        AssertOk(Run("teachers", "cache", "--pool", one, "--data", fixture.DataDir, "--threads", "1"));
        var run = MpiRun.Mtkd(2, Timeout, "teachers", "cache", "--pool", two, "--data", fixture.DataDir, "--threads", "1");
        AssertRanOk(run, "mpirun -np 2 teachers cache");
        foreach (string split in TeacherCache.Splits)
            Assert.True(File.ReadAllBytes(TeacherCache.PathOf(one, split)).AsSpan().SequenceEqual(File.ReadAllBytes(TeacherCache.PathOf(two, split))), split);
        // Rank 0 alone prints: one table, one line per split.
        Assert.Single(run.Out.Split('\n'), line => line.StartsWith("│ train ", StringComparison.Ordinal));
        Assert.Empty(Directory.GetFiles(two, "*.tmp"));
    }

    [SkippableFact]
    public void Compare_over_two_ranks_reports_what_one_job_reports()
    {
        MpiRun.SkipWithoutMpirun();
        string pool = PoolCopy("compare-pool");
        AssertOk(Run("teachers", "cache", "--pool", pool, "--data", fixture.DataDir, "--threads", "1"));
        string one = fixture.Folder.Sub("cmp1-" + Guid.NewGuid().ToString("N")[..6]), two = fixture.Folder.Sub("cmp2-" + Guid.NewGuid().ToString("N")[..6]);
        string[] common = ["compare", "--data", fixture.DataDir, "--pool", pool, "--strategies", "none,aver,mtkd-rl-ppo", "--seeds", "1", "--epochs", "2", .. Student];
        AssertOk(Run([.. common, "--out", one]));
        var run = MpiRun.Mtkd(2, Timeout, [.. common, "--out", two]);
        AssertRanOk(run, "mpirun -np 2 compare");
        Assert.Equal(WithoutSeconds(Path.Combine(one, "comparison.json")), WithoutSeconds(Path.Combine(two, "comparison.json")));
        Assert.Single(run.Out.Split('\n'), line => line.StartsWith("wrote comparison.md", StringComparison.Ordinal));
        Assert.Equal(3, Directory.GetDirectories(Path.Combine(two, "runs")).Length);
    }

    /// <summary>The report with every measured duration removed: what must not depend on where the runs ran.</summary>
    private static string WithoutSeconds(string path)
    {
        var root = JsonNode.Parse(File.ReadAllText(path))!;
        Strip(root);
        return root.ToJsonString();

        static void Strip(JsonNode? node)
        {
            if (node is JsonObject o)
            {
                foreach (string key in o.Select(p => p.Key).Where(k => k.Contains("seconds", StringComparison.Ordinal)).ToList()) o.Remove(key);
                foreach (var p in o) Strip(p.Value);
            }
            else if (node is JsonArray a)
            {
                foreach (var item in a) Strip(item);
            }
        }
    }
}
