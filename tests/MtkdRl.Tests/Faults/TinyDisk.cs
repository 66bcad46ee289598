using System.Diagnostics;

namespace MtkdRl.Tests.Faults;

/// <summary>
/// A small tmpfs mounted for one test, so that a full disk is real. Mounting needs root (or CAP_SYS_ADMIN) on
/// Linux; where it is refused the test that asked is skipped with the reason.
/// </summary>
public sealed class TinyDisk : IDisposable
{
    public string Root { get; }

    private TinyDisk(string root) => Root = root;

    /// <summary>A tmpfs of <paramref name="bytes"/> (rounded up to 4 KiB pages), or a skip when none can be mounted here.</summary>
    public static TinyDisk Mount(long bytes)
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "tmpfs mounts are Linux only");
        string root = Directory.CreateTempSubdirectory("mtkd-tinydisk").FullName;
        long kib = (bytes + 4095) / 4096 * 4;
        var (code, output) = Processes.Run("mount", "-t", "tmpfs", "-o", $"size={kib}k", "tmpfs", root);
        if (code != 0)
        {
            Directory.Delete(root);
            Skip.If(true, $"cannot mount a tmpfs here ({output.Trim()})");
        }
        return new TinyDisk(root);
    }

    public void Dispose()
    {
        Processes.Run("umount", Root);
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Child processes for the fault tests.</summary>
public static class Processes
{
    /// <summary>Runs a program to its end; its exit code and stdout + stderr. Exit code -1 when it cannot start.</summary>
    public static (int Code, string Output) Run(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args) info.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(info)!;
            var stderr = p.StandardError.ReadToEndAsync();
            string stdout = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, stdout + stderr.Result);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
    }

    /// <summary>The pid of a process that has ended (and been reaped): nothing runs under it now.</summary>
    public static int DeadPid()
    {
        using var p = Process.Start(new ProcessStartInfo("true"))!;
        int pid = p.Id;
        p.WaitForExit();
        Assert.False(Directory.Exists($"/proc/{pid}"), $"pid {pid} still runs");
        return pid;
    }

    /// <summary>The CLI in a child process (the mtkd.dll built beside the tests), so a crash cannot take the test host down.</summary>
    public static (int Code, string Out, string Err) Mtkd(params string[] args) => MtkdWith(new Dictionary<string, string?>(), args);

    /// <summary>
    /// <see cref="Mtkd"/> with <paramref name="environment"/> changed for the child: a null value removes the
    /// variable (for what the native library reads, which the shared test host must not see changed).
    /// </summary>
    public static (int Code, string Out, string Err) MtkdWith(IReadOnlyDictionary<string, string?> environment, params string[] args)
    {
        using var p = StartMtkd(environment, args);
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout, stderr.Result);
    }

    /// <summary>Starts the CLI in a child process; its output is redirected (stdout discarded by the caller or read).</summary>
    public static Process StartMtkd(params string[] args) => StartMtkd(new Dictionary<string, string?>(), args);

    private static Process StartMtkd(IReadOnlyDictionary<string, string?> environment, string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "mtkd.dll"));
        foreach (string a in args) info.ArgumentList.Add(a);
        foreach (var (name, value) in environment)
        {
            if (value is null) info.Environment.Remove(name);
            else info.Environment[name] = value;
        }
        return Process.Start(info)!;
    }
}
