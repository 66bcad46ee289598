using System.Text.Json;
using System.Text.Json.Serialization;
using MtkdRl.Core;
using MtkdRl.Core.Formats;

namespace MtkdRl.Teachers;

/// <summary>The JSON conventions of checkpoints, pool manifests and metrics: snake_case names, indented, atomic writes.</summary>
public static class JsonFiles
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static readonly JsonSerializerOptions Compact = new(Options) { WriteIndented = false };

    public static void Write<T>(string path, T value) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(value, Options) + "\n");

    /// <summary>Reads <paramref name="path"/> as <typeparamref name="T"/>; any failure is one line naming the file and <paramref name="what"/> it should be.</summary>
    public static T Read<T>(string path, string what) where T : class
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (FileNotFoundException) { throw new MtkdInputException($"{path}: no such file"); }
        catch (DirectoryNotFoundException) { throw new MtkdInputException($"{path}: no such file"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MtkdInputException($"{path}: cannot read ({e.Message})");
        }
        try
        {
            return JsonSerializer.Deserialize<T>(text, Options) ?? throw new MtkdInputException($"{path}: empty {what}");
        }
        catch (JsonException e)
        {
            throw new MtkdInputException($"{path}: not a valid {what} ({JsonErrorText.Describe(e)})");
        }
    }

    /// <summary>
    /// The records of a JSON-lines file (snake_case), skipping blank lines and lines that do not parse (a line
    /// cut short by a crash of an older writer); none when the file is missing.
    /// </summary>
    public static IEnumerable<T> ReadLines<T>(string path)
    {
        if (!File.Exists(path)) yield break;
        foreach (string line in File.ReadLines(path))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            T? value;
            try { value = JsonSerializer.Deserialize<T>(line, Compact); }
            catch (JsonException) { continue; }
            if (value is not null) yield return value;
        }
    }

    /// <summary>Rewrites a JSON-lines file atomically, one compact record per line.</summary>
    public static void WriteLines<T>(string path, IEnumerable<T> records) =>
        AtomicFile.WriteAllText(path, string.Concat(records.Select(r => JsonSerializer.Serialize(r, Compact) + "\n")));
}
