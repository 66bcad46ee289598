using System.Text.Json;
using System.Text.Json.Serialization;
using MtkdRl.Core;

namespace MtkdRl.Backends;

/// <summary>
/// The one JSON form of benchmark and check records (`mtkd bench kernels|train|epoch|strategies --json`,
/// `mtkd selfcheck --json`): an indented array of objects whose fields are the record's properties in
/// snake_case (a [JsonPropertyName] where a format wants another name, such as B, K, C, D), with a non-finite
/// number written as null.
/// </summary>
public static class BenchJson
{
    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new NonFiniteAsNull() },
    };

    public static string Serialize<T>(IEnumerable<T> records) => JsonSerializer.Serialize(records.ToList(), Options) + "\n";

    /// <summary>Writes the records through a temporary file and a rename, so the file is never half-written.</summary>
    public static void Write<T>(string path, IEnumerable<T> records) => AtomicFile.WriteAllText(path, Serialize(records));

    private static readonly JsonSerializerOptions LineOptions = new(Options) { WriteIndented = false };

    /// <summary>
    /// Appends one record as one JSON line (the --jsonl files of bench and selfcheck), as soon as it exists, so a
    /// run cut short keeps every result that finished.
    /// </summary>
    public static void AppendLine<T>(string path, T record) => File.AppendAllText(path, JsonSerializer.Serialize(record, LineOptions) + "\n");

    /// <summary>Fails on an unwritable path at once, before a long run, by writing an empty array there.</summary>
    public static void Reserve(string? path)
    {
        if (path is not null) AtomicFile.WriteAllText(path, "[]");
    }

    private sealed class NonFiniteAsNull : JsonConverter<double>
    {
        public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType == JsonTokenType.Null ? double.NaN : reader.GetDouble();

        public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
        {
            if (double.IsFinite(value)) writer.WriteNumberValue(value);
            else writer.WriteNullValue();
        }
    }
}
