using System.Text.Json;
using System.Text.Json.Serialization;
using MtkdRl.Core;
using MtkdRl.Core.Formats;

namespace MtkdRl.Data.Datasets;

/// <summary>
/// What a dataset says about itself beyond its images: the optional <c>dataset.json</c> in its folder. Today it
/// carries whether its classes are mirror-invariant (a horizontally flipped image shows the same class), which
/// decides whether augmentation may flip. Without the file, the built-in knowledge of the dataset's kind
/// decides: Fashion-MNIST and CIFAR are mirror-invariant (garments, natural images); digits and unknown data are
/// not, since a flipped digit or glyph can be another class or none.
/// </summary>
public sealed record DatasetDescriptor
{
    public const string FileName = "dataset.json";

    /// <summary>A free-text name for people; the readers name datasets on their own.</summary>
    public string? Name { get; init; }

    /// <summary>True when a horizontally flipped image keeps its class; null: not said.</summary>
    public bool? MirrorInvariant { get; init; }

    /// <summary>Extra fields other tools write (generator options, task kinds); kept, not interpreted here.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Other { get; init; }

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    /// <summary>The folder's dataset.json, or null when there is none. A file that is there but wrong is a one-line error.</summary>
    public static DatasetDescriptor? TryRead(string dir)
    {
        string path = Path.Combine(dir, FileName);
        if (!File.Exists(path)) return null;
        var info = new FileInfo(path);
        if (info.Length > 1 << 20) throw new MtkdInputException($"{path}: {info.Length} bytes is too large for a dataset descriptor (at most 1 MiB)");
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MtkdInputException($"{path}: cannot read ({e.Message})");
        }
        try
        {
            return JsonSerializer.Deserialize<DatasetDescriptor>(text, Json) ?? throw new MtkdInputException($"{path}: empty dataset descriptor");
        }
        catch (JsonException e)
        {
            throw new MtkdInputException($"{path}: not a valid dataset descriptor ({JsonErrorText.Describe(e)})");
        }
    }
}

/// <summary>Whether flips keep a dataset's classes, and what said so (shown to the user beside the choice).</summary>
public sealed record MirrorInvariance(bool Invariant, string Source)
{
    /// <summary>Known kinds of data, by the reader's name for them.</summary>
    private static readonly IReadOnlyDictionary<string, bool> Known = new Dictionary<string, bool>
    {
        ["fashion-mnist"] = true,
        ["cifar-10"] = true,
        ["cifar-100"] = true,
        ["mnist"] = false,
    };

    /// <summary>The descriptor's word when it says; else the known kind's; else not invariant.</summary>
    public static MirrorInvariance Of(string datasetName, DatasetDescriptor? descriptor)
    {
        if (descriptor?.MirrorInvariant is bool said) return new MirrorInvariance(said, DatasetDescriptor.FileName);
        if (Known.TryGetValue(datasetName, out bool known)) return new MirrorInvariance(known, $"known for {datasetName}");
        return new MirrorInvariance(false, "not said for this dataset (add \"mirror_invariant\": true to its dataset.json to allow flips)");
    }
}
