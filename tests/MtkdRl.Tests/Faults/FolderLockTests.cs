using System.Diagnostics;
using MtkdRl.Core;
using MtkdRl.Tests.Data;

namespace MtkdRl.Tests.Faults;

/// <summary>One owner per folder: a second one is one line naming the folder and the owner's pid; a dead owner's lock is taken over.</summary>
public class FolderLockTests
{
    private static string LockFile(string folder) => Path.Combine(folder, FolderLock.FileName);

    private static void AssertRefused(string folder, int ownerPid)
    {
        var e = Assert.Throws<MtkdException>(() => FolderLock.Acquire(folder).Dispose());
        Assert.StartsWith(folder + ": in use by another mtkd process", e.Message);
        Assert.Contains($"(pid {ownerPid},", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_second_owner_in_the_same_process_is_refused_until_the_first_lets_go()
    {
        using var temp = new TempFolder();
        string folder = temp.Sub("run");
        using (var owner = FolderLock.Acquire(folder))
        {
            Assert.Equal($"{Environment.ProcessId}", FolderLock.ReadWithoutLock(LockFile(folder))?.Split('\n')[0]);
            AssertRefused(folder, Environment.ProcessId);
        }
        Assert.False(File.Exists(LockFile(folder)), "the lock file outlived its owner");
        using var next = FolderLock.Acquire(folder);
        Assert.True(Directory.Exists(folder));
    }

    [Fact]
    public void A_lock_file_left_by_a_dead_process_is_taken_over()
    {
        using var temp = new TempFolder();
        string folder = temp.Sub("pool");
        int dead = Processes.DeadPid();
        File.WriteAllText(LockFile(folder), $"{dead}\n");
        using var owner = FolderLock.Acquire(folder);
        Assert.Equal($"{Environment.ProcessId}", FolderLock.ReadWithoutLock(LockFile(folder))!.Split('\n')[0]);
    }

    [Fact]
    public void A_folder_the_lock_created_goes_away_with_it_when_nothing_was_written()
    {
        using var temp = new TempFolder();
        string fresh = Path.Combine(temp.Root, "fresh"), kept = temp.Sub("kept");
        FolderLock.Acquire(fresh).Dispose();
        FolderLock.Acquire(kept).Dispose();
        Assert.False(Directory.Exists(fresh));
        Assert.True(Directory.Exists(kept));
        using (FolderLock.Acquire(fresh)) File.WriteAllText(Path.Combine(fresh, "summary.json"), "{}");
        Assert.Equal(["summary.json"], Directory.GetFileSystemEntries(fresh).Select(Path.GetFileName));
    }

    [SkippableFact]
    public void A_lock_held_by_another_process_names_its_pid_and_is_taken_over_once_it_is_killed()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "flock(1) is Linux");
        Skip.If(Processes.Run("flock", "--version").Code != 0, "flock(1) is not installed");
        using var temp = new TempFolder();
        string folder = temp.Sub("run"), lockFile = LockFile(folder);
        // The child flock()s the lock file on a descriptor it keeps, as an mtkd owner does, then writes its pid
        // (exec keeps both the pid and the descriptor).
        using var child = Process.Start(new ProcessStartInfo("sh", ["-c", $"exec 9>>'{lockFile}'; flock 9; echo $$ > '{lockFile}'; exec sleep 60"]))!;
        try
        {
            var clock = Stopwatch.StartNew();
            while (FolderLock.ReadWithoutLock(lockFile)?.Trim() != $"{child.Id}")
            {
                Assert.True(clock.Elapsed.TotalSeconds < 20, "the child did not take the lock");
                Thread.Sleep(20);
            }
            AssertRefused(folder, child.Id);
        }
        finally
        {
            child.Kill();
            child.WaitForExit();
        }
        Assert.Equal($"{child.Id}", File.ReadAllText(lockFile).Trim());
        using var owner = FolderLock.Acquire(folder);
        Assert.Equal($"{Environment.ProcessId}", FolderLock.ReadWithoutLock(lockFile)!.Split('\n')[0]);
    }
}
