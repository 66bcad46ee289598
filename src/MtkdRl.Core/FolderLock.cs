using System.Runtime.InteropServices;
using System.Text;

namespace MtkdRl.Core;

/// <summary>
/// Ownership of a folder that a command writes (a run folder, a pool): an advisory lock on
/// <c>FOLDER/.mtkd.lock</c>, held for as long as the owner writes and holding its pid. The lock is the operating
/// system's (flock on Linux through FileShare.None, a sharing lock on Windows), so the kernel releases it when
/// the owner exits however it exits, and a lock file left by a dead process is simply taken over. A second
/// owner, in this process or another, gets a one-line error naming the folder and the owner's pid. Disposing
/// removes the lock file, and the folder too when taking the lock created it and nothing was written there.
/// </summary>
public sealed partial class FolderLock : IDisposable
{
    public const string FileName = ".mtkd.lock";
    private const int Attempts = 20;

    public string Folder { get; }
    public string LockPath { get; }
    private FileStream? _stream;
    private readonly bool _createdFolder;

    private FolderLock(string folder, string lockPath, FileStream stream, bool createdFolder)
    {
        Folder = folder; LockPath = lockPath; _stream = stream; _createdFolder = createdFolder;
    }

    /// <summary>Creates <paramref name="folder"/> if needed and takes its lock, or throws the one-line error naming the owner.</summary>
    public static FolderLock Acquire(string folder)
    {
        if (File.Exists(folder)) throw new MtkdInputException($"{folder}: is a file, not a folder");
        bool created = false;
        string lockPath = Path.Combine(folder, FileName);
        for (int attempt = 0; ; attempt++)
        {
            if (attempt == Attempts) throw new MtkdException($"{lockPath}: cannot take the folder's lock (it keeps changing hands)");
            try
            {
                if (!Directory.Exists(folder)) { Directory.CreateDirectory(folder); created = true; }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new MtkdException($"{folder}: cannot create the folder ({e.Message})");
            }
            FileStream stream;
            try { stream = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (DirectoryNotFoundException)
            {
                continue; // an owner that had created the folder removed it on leaving
            }
            catch (IOException e) when (IsHeld(e))
            {
                throw new MtkdException($"{folder}: in use by another mtkd process ({OwnerText(lockPath)}, lock file {lockPath}); wait for it to end or choose another folder");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new MtkdException($"{lockPath}: cannot take the folder's lock ({e.Message})");
            }
            string token = $"{Environment.ProcessId}\n{Guid.NewGuid():N}\n";
            try
            {
                stream.SetLength(0);
                stream.Write(Encoding.ASCII.GetBytes(token));
                stream.Flush();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                stream.Dispose();
                throw new MtkdException($"{lockPath}: cannot write the folder's lock ({e.Message})");
            }
            // A previous owner removes the file before it lets the lock go, so this lock may be on a file that is no
            // longer at lockPath while a third process locks a new one there: only a lock whose token is at the
            // path is ours.
            string? atPath = ReadWithoutLock(lockPath);
            if (atPath is null || atPath == token) return new FolderLock(folder, lockPath, stream, created);
            stream.Dispose();
        }
    }

    public void Dispose()
    {
        if (_stream is null) return;
        // Removed while still locked, so nobody can lock this file and find it gone afterwards.
        try { File.Delete(LockPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        _stream.Dispose();
        _stream = null;
        if (!_createdFolder) return;
        try { Directory.Delete(Folder); } // refused unless empty
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>Whether opening the lock file failed because another open holds its lock (EWOULDBLOCK; a sharing violation on Windows).</summary>
    private static bool IsHeld(IOException e)
    {
        const int LinuxWouldBlock = 11, BsdWouldBlock = 35, WindowsSharingViolation = unchecked((int)0x80070020);
        if (OperatingSystem.IsWindows()) return e.HResult == WindowsSharingViolation;
        return e.HResult == (OperatingSystem.IsLinux() ? LinuxWouldBlock : BsdWouldBlock);
    }

    /// <summary>"pid N" from the lock file of the owner, which may be a moment from writing it.</summary>
    private static string OwnerText(string lockPath)
    {
        for (int i = 0; i < 10; i++)
        {
            string? text = ReadWithoutLock(lockPath);
            string first = text?.Split('\n')[0].Trim() ?? "";
            if (int.TryParse(first, out int pid) && pid > 0) return $"pid {pid}";
            Thread.Sleep(20);
        }
        return "pid unknown";
    }

    /// <summary>
    /// The lock file's text, read past the owner's lock: .NET locks every file it opens (shared for reading),
    /// which the owner's exclusive lock refuses, so this reads through the C library. Null where that is not
    /// available (Windows) or the file cannot be read.
    /// </summary>
    public static unsafe string? ReadWithoutLock(string path)
    {
        if (OperatingSystem.IsWindows()) return null;
        try
        {
            int fd = Libc.Open(path, 0 /* O_RDONLY */);
            if (fd < 0) return "";
            try
            {
                var buffer = new byte[256];
                int total = 0;
                fixed (byte* p = buffer)
                {
                    while (total < buffer.Length)
                    {
                        nint n = Libc.Read(fd, p + total, buffer.Length - total);
                        if (n <= 0) break;
                        total += (int)n;
                    }
                }
                return Encoding.ASCII.GetString(buffer, 0, total);
            }
            finally { Libc.Close(fd); }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    private static unsafe partial class Libc
    {
        [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int Open(string path, int flags);

        [LibraryImport("libc", EntryPoint = "read")]
        internal static partial nint Read(int fd, byte* buffer, nint count);

        [LibraryImport("libc", EntryPoint = "close")]
        internal static partial int Close(int fd);
    }
}
