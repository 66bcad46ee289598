using System.Diagnostics;
using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Tests.Data;

namespace MtkdRl.Tests.Faults;

/// <summary>Temporary files of a killed process (kill -9) are removed by the next write in their folder; a live writer's stay.</summary>
public class StaleTempTests
{
    private static string Temp(TempFolder folder, string target, int pid) =>
        folder.Write($".{target}.{pid}.{Guid.NewGuid():N}.tmp", [1, 2, 3]);

    [Fact]
    public void An_atomic_write_removes_the_temporaries_of_dead_processes_and_keeps_live_ones()
    {
        using var folder = new TempFolder();
        string dead = Temp(folder, "state.json", Processes.DeadPid());
        string live = Temp(folder, "state.json", Environment.ProcessId);
        string unrelated = folder.Write(".notes.tmp", [1]);

        AtomicFile.WriteAllText(Path.Combine(folder.Root, "metrics.jsonl"), "{}\n");

        Assert.False(File.Exists(dead), "the dead process's temporary file is still there");
        Assert.True(File.Exists(live), "the live process's temporary file was removed");
        Assert.True(File.Exists(unrelated));
        Assert.True(File.Exists(Path.Combine(folder.Root, "metrics.jsonl")));
    }

    [Fact]
    public void A_cache_build_removes_the_cache_temporary_a_killed_build_left()
    {
        using var folder = new TempFolder();
        string dead = Temp(folder, "cache-train.mtkc", Processes.DeadPid());
        var header = new TeacherCacheHeader(TeacherCacheHeader.CurrentFormat, CacheDType.F32, "train", 2, 2, "d", "fp-d", "fp-p", [new("t", "linear", 1, "sha:t")], "");
        using (var writer = new TeacherCacheFile.Writer(Path.Combine(folder.Root, "cache-train.mtkc"), header))
        {
            writer.Write(0, 0, [1f, 2f, 3f, 4f], [5f, 6f]);
            writer.Commit();
        }
        Assert.False(File.Exists(dead));
        Assert.Equal(["cache-train.mtkc"], Directory.GetFileSystemEntries(folder.Root).Select(Path.GetFileName));
    }

    [SkippableFact]
    public void A_pid_reused_by_a_process_started_after_the_temporary_was_written_does_not_keep_it()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "process start times come from /proc");
        using var folder = new TempFolder();
        using var sleeper = Process.Start(new ProcessStartInfo("sleep", "60"))!;
        try
        {
            // Written an hour before the process with its pid started: another process that had the pid then.
            string older = Temp(folder, "state.json", sleeper.Id);
            File.SetLastWriteTimeUtc(older, DateTime.UtcNow.AddHours(-1));
            string current = Temp(folder, "summary.json", sleeper.Id);

            AtomicFile.WriteAllText(Path.Combine(folder.Root, "metrics.jsonl"), "{}\n");

            Assert.False(File.Exists(older), "a temporary older than its pid's process was kept");
            Assert.True(File.Exists(current), "the running process's temporary file was removed");
        }
        finally
        {
            sleeper.Kill();
            sleeper.WaitForExit();
        }
    }
}
