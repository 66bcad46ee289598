namespace MtkdRl.Core;

/// <summary>
/// Room on disk for a file about to be written: a check of the free space, a real allocation of the blocks before
/// any byte is written (so a memory-mapped write can never fault on a full disk), and the one-line error when
/// either falls short.
/// </summary>
public static class DiskSpace
{
    /// <summary>Bytes this process may still write on the file system that holds <paramref name="folder"/>; -1 when unknown.</summary>
    public static long FreeBytes(string folder)
    {
        try { return new DriveInfo(Path.GetFullPath(folder)).AvailableFreeSpace; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException) { return -1; }
    }

    /// <summary>The one-line error for <paramref name="path"/>: how much it needs and how much the disk has.</summary>
    public static MtkdException NotEnough(string path, long needed, long free, bool atLeast = false) =>
        new($"{path}: not enough disk space: needs {(atLeast ? "more than " : "")}{needed} bytes, {(free < 0 ? "unknown" : free.ToString())} bytes free");

    /// <summary>Refuses, with the one-line error, a file of <paramref name="bytes"/> that the disk cannot hold.</summary>
    public static void EnsureRoom(string path, string folder, long bytes)
    {
        if (bytes <= 0) return;
        long free = FreeBytes(folder);
        if (free >= 0 && bytes > free) throw NotEnough(path, bytes, free);
    }

    /// <summary>
    /// Creates <paramref name="temp"/> with <paramref name="bytes"/> allocated on disk (fallocate through .NET's
    /// PreallocationSize; the length stays 0 until written or extended). A disk that cannot hold them gives the
    /// one-line error naming <paramref name="path"/> and leaves no file behind.
    /// </summary>
    public static FileStream CreateReserved(string temp, long bytes, string path)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(temp)) ?? ".";
        EnsureRoom(path, folder, bytes);
        try
        {
            return new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None,
                PreallocationSize = Math.Max(0, bytes),
            });
        }
        catch (IOException) when (bytes > 0 && FreeBytes(folder) is long free && free >= 0 && free < bytes)
        {
            // .NET has already removed the file it could not allocate.
            throw NotEnough(path, bytes, free);
        }
    }

    /// <summary>Whether <paramref name="e"/> reports a full disk (ENOSPC on Unix, ERROR_DISK_FULL / ERROR_HANDLE_DISK_FULL on Windows).</summary>
    public static bool IsFull(IOException e)
    {
        const int Enospc = 28, WindowsDiskFull = unchecked((int)0x80070070), WindowsHandleDiskFull = unchecked((int)0x80070027);
        return OperatingSystem.IsWindows() ? e.HResult is WindowsDiskFull or WindowsHandleDiskFull : e.HResult == Enospc;
    }
}
