using System.IO.Compression;
using MtkdRl.Core;

namespace MtkdRl.Data.Formats;

/// <summary>
/// NPZ archives (numpy.savez / savez_compressed): a zip whose members are NPY files named "key.npy", stored or
/// deflated. Members whose names do not end in ".npy" are ignored, as numpy's loader ignores them for arrays.
/// Each member's NPY header is checked against the zip directory's size before its data is allocated.
/// </summary>
public static class NpzFile
{
    private const string Extension = ".npy";

    /// <summary>The array names (member names without ".npy"), in archive order.</summary>
    public static IReadOnlyList<string> Names(string path)
    {
        using var zip = OpenArchive(path, out _);
        return ArrayEntries(path, zip).Select(e => e.Name).ToList();
    }

    public static NpyHeader ReadHeader(string path, string name)
    {
        using var zip = OpenArchive(path, out _);
        using var reader = OpenMember(path, zip, name);
        return NpyFile.ReadHeader(reader);
    }

    public static NpyArray Read(string path, string name)
    {
        using var zip = OpenArchive(path, out _);
        using var reader = OpenMember(path, zip, name);
        return NpyFile.Read(reader);
    }

    /// <summary>Every array in the archive, by name.</summary>
    public static IReadOnlyDictionary<string, NpyArray> ReadAll(string path)
    {
        using var zip = OpenArchive(path, out _);
        var result = new Dictionary<string, NpyArray>(StringComparer.Ordinal);
        foreach (var (name, entry) in ArrayEntries(path, zip))
        {
            using var reader = OpenMember(path, entry, name);
            result[name] = NpyFile.Read(reader);
        }
        return result;
    }

    /// <summary>Writes the arrays as "name.npy" members, deflated when <paramref name="compress"/> (savez_compressed), else stored (savez); atomically.</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, NpyArray>> arrays, bool compress = false)
    {
        var members = arrays.ToList();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, _) in members)
        {
            if (string.IsNullOrEmpty(name) || name.Contains('/') || name.Contains('\\'))
                throw new ArgumentException($"NPZ array name '{name}' must be non-empty and contain no path separator", nameof(arrays));
            if (!seen.Add(name)) throw new ArgumentException($"NPZ array name '{name}' appears twice", nameof(arrays));
        }
        AtomicFile.Write(path, stream =>
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
            foreach (var (name, array) in members)
            {
                var entry = zip.CreateEntry(name + Extension, compress ? CompressionLevel.Optimal : CompressionLevel.NoCompression);
                // A fixed timestamp makes the archive depend on its arrays only.
                entry.LastWriteTime = new DateTimeOffset(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);
                using var member = entry.Open();
                NpyFile.WriteTo(member, array);
            }
        });
    }

    private static ZipArchive OpenArchive(string path, out FileStream file)
    {
        file = PayloadReader.OpenFile(path);
        try
        {
            return new ZipArchive(file, ZipArchiveMode.Read, leaveOpen: false);
        }
        catch (InvalidDataException e)
        {
            file.Dispose();
            throw new MtkdInputException($"{path}: not a valid NPZ (zip) archive ({PayloadReader.OneLine(e.Message)})");
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static List<(string Name, ZipArchiveEntry Entry)> ArrayEntries(string path, ZipArchive zip)
    {
        var result = new List<(string, ZipArchiveEntry)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in zip.Entries)
        {
            if (!entry.FullName.EndsWith(Extension, StringComparison.Ordinal)) continue;
            string name = entry.FullName[..^Extension.Length];
            if (!seen.Add(name)) throw new MtkdInputException($"{path}: member '{entry.FullName}' appears twice");
            result.Add((name, entry));
        }
        return result;
    }

    private static PayloadReader OpenMember(string path, ZipArchive zip, string name)
    {
        var entries = ArrayEntries(path, zip);
        foreach (var (n, entry) in entries)
            if (n == name) return OpenMember(path, entry, name);
        string known = entries.Count == 0 ? "none" : string.Join(", ", entries.Select(e => e.Name));
        throw new MtkdInputException($"{path}: no array '{name}' (arrays: {known})");
    }

    private static PayloadReader OpenMember(string path, ZipArchiveEntry entry, string name)
    {
        string source = $"{path}:{name}";
        Stream member;
        try
        {
            member = entry.Open();
        }
        catch (InvalidDataException e)
        {
            throw new MtkdInputException($"{source}: cannot open the zip member ({PayloadReader.OneLine(e.Message)})");
        }
        return PayloadReader.ForZipMember(source, member, entry.Length, entry.CompressedLength, entry.Crc32);
    }
}
