using System.Text;

namespace MtkdRl.Core;

/// <summary>
/// Writes a file so that readers see either the old content or the whole new content, never a half-written
/// file: write to a temporary file beside the target (<see cref="TempFiles"/>), flush it to disk, then rename
/// over the target. When the size is known the blocks are allocated before the first byte is written
/// (<see cref="DiskSpace"/>); either way a full disk is one line naming the file, the bytes needed and the bytes
/// free, and the temporary file is removed.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes a file whose size is not known in advance: a full disk is caught when a write fails.</summary>
    public static void Write(string path, Action<Stream> write) => Write(path, 0, write);

    /// <summary>Writes a file of about <paramref name="size"/> bytes, allocated on disk before <paramref name="write"/> runs.</summary>
    public static void Write(string path, long size, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(dir)) throw new MtkdException($"{path}: directory {dir} does not exist");
        string temp = TempFiles.Beside(full);
        FileStream? stream = null;
        try
        {
            stream = DiskSpace.CreateReserved(temp, size, path);
            write(stream);
            stream.Flush(flushToDisk: true);
            stream.Dispose();
            File.Move(temp, full, overwrite: true);
        }
        catch (IOException e) when (DiskSpace.IsFull(e))
        {
            long reached = Reached(stream, temp);
            Abandon(stream, temp);
            long free = DiskSpace.FreeBytes(dir);
            throw size > reached ? DiskSpace.NotEnough(path, size, free) : DiskSpace.NotEnough(path, reached, free, atLeast: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Abandon(stream, temp);
            throw new MtkdException($"{path}: cannot write ({e.Message})");
        }
        catch
        {
            Abandon(stream, temp);
            throw;
        }
    }

    /// <summary>Writes <paramref name="bytes"/>, allocated on disk first.</summary>
    public static void WriteAllBytes(string path, byte[] bytes) => Write(path, bytes.Length, s => s.Write(bytes));

    /// <summary>Writes <paramref name="text"/> as UTF-8 without a byte-order mark, allocated on disk first.</summary>
    public static void WriteAllText(string path, string text) => WriteAllBytes(path, Encoding.UTF8.GetBytes(text));

    /// <summary>How far the write got: the stream's position, or the temporary file's length where a large write bypassed it.</summary>
    private static long Reached(FileStream? stream, string temp)
    {
        long position = 0, length = 0;
        try { position = stream?.Position ?? 0; }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { }
        try { length = new FileInfo(temp).Length; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return Math.Max(position, length);
    }

    /// <summary>Closes the temporary file (a failing flush of its buffer is expected on a full disk) and removes it.</summary>
    private static void Abandon(FileStream? stream, string temp)
    {
        try { stream?.Dispose(); }
        catch (IOException) { }
        TryDelete(temp);
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
