using System.Text.Json;

namespace MtkdRl.Data.Scenes;

/// <summary>Where a scenes folder keeps its files.</summary>
public static class SceneFiles
{
    public static readonly IReadOnlyList<string> Splits = ["train", "test"];

    public static string Images(string dir, string split) => Path.Combine(dir, split, "images.npy");

    public static string Masks(string dir, string split) => Path.Combine(dir, split, "masks.npy");

    public static string Instances(string dir, string split) => Path.Combine(dir, $"instances_{split}.json");

    public static string Descriptor(string dir) => Path.Combine(dir, SceneDescriptor.FileName);

    /// <summary>Largest dataset.json read to tell scenes from a classification dataset.</summary>
    private const long MaxDescriptorBytes = 1 << 20;

    /// <summary>
    /// True when <paramref name="dir"/> is a scenes folder: its dataset.json names a dense task in task_kinds. A
    /// classification dataset may carry a dataset.json too (mirror_invariant, its name), so the file's presence
    /// alone says nothing; a descriptor that is too large or not JSON is left to the classification readers,
    /// which report it.
    /// </summary>
    public static bool IsScenesFolder(string? dir)
    {
        if (dir is null) return false;
        var file = new FileInfo(Descriptor(dir));
        if (!file.Exists || file.Length > MaxDescriptorBytes) return false;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(file.FullName));
            if (doc.RootElement.ValueKind != JsonValueKind.Object
                || !doc.RootElement.TryGetProperty("task_kinds", out var kinds) || kinds.ValueKind != JsonValueKind.Array)
                return false;
            return kinds.EnumerateArray().Any(k => k.ValueKind == JsonValueKind.String && SceneDescriptor.Kinds.Contains(k.GetString()));
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
