using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace MtkdRl.Core;

/// <summary>
/// Temporary files written beside their target, named <c>.{name}.{pid}.{guid}.tmp</c> so that the process that
/// owns one can be told from its name. A process killed mid-write (kill -9, power loss) leaves its temporary
/// behind; the first write of a later process in the same folder removes those whose process is gone.
/// </summary>
public static partial class TempFiles
{
    private static readonly ConcurrentDictionary<string, bool> Swept = new(StringComparer.Ordinal);

    /// <summary>
    /// Seconds by which a process's start may follow its temporary file's last write before the pid counts as
    /// reused (the start time is known to about a second).
    /// </summary>
    private const double StartTimeSlackSeconds = 2;

    [GeneratedRegex(@"^\..+\.(?<pid>[0-9]+)\.[0-9a-f]{32}\.tmp$")]
    private static partial Regex TempName();

    /// <summary>A fresh temporary path beside <paramref name="fullPath"/>, after removing stale ones in its folder (once per folder and process).</summary>
    public static string Beside(string fullPath)
    {
        string dir = Path.GetDirectoryName(fullPath) ?? ".";
        if (Swept.TryAdd(dir, true)) RemoveStale(dir);
        return Path.Combine(dir, $".{Path.GetFileName(fullPath)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
    }

    /// <summary>Removes the temporary files in <paramref name="dir"/> whose writing process no longer runs; returns how many.</summary>
    public static int RemoveStale(string dir)
    {
        int removed = 0;
        IEnumerable<string> files;
        try { files = Directory.EnumerateFiles(dir, ".*.tmp").ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return 0; }
        foreach (string file in files)
        {
            var match = TempName().Match(Path.GetFileName(file));
            if (!match.Success || !int.TryParse(match.Groups["pid"].Value, out int pid)) continue;
            if (OwnerRuns(pid, file)) continue;
            try { File.Delete(file); removed++; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return removed;
    }

    /// <summary>
    /// Whether process <paramref name="pid"/> may still be writing <paramref name="file"/>: it runs, and it did not
    /// start after the file was last written (which would make it another process that got the same pid).
    /// </summary>
    private static bool OwnerRuns(int pid, string file)
    {
        if (pid == Environment.ProcessId) return true;
        if (!ProcessRuns(pid)) return false;
        try
        {
            using var process = Process.GetProcessById(pid);
            DateTime started = process.StartTime.ToUniversalTime();
            return started <= File.GetLastWriteTimeUtc(file).AddSeconds(StartTimeSlackSeconds);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
        {
            return ProcessRuns(pid);
        }
    }

    /// <summary>Whether a process with this id exists (on Linux: /proc/PID).</summary>
    public static bool ProcessRuns(int pid)
    {
        if (pid <= 0) return false;
        if (OperatingSystem.IsLinux()) return Directory.Exists($"/proc/{pid}");
        try { using var p = Process.GetProcessById(pid); return !p.HasExited; }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception) { return false; }
    }
}
