namespace MtkdRl.Data.Scenes;

/// <summary>Where a scenes folder keeps its files.</summary>
public static class SceneFiles
{
    public static readonly IReadOnlyList<string> Splits = ["train", "test"];

    public static string Images(string dir, string split) => Path.Combine(dir, split, "images.npy");

    public static string Masks(string dir, string split) => Path.Combine(dir, split, "masks.npy");

    public static string Instances(string dir, string split) => Path.Combine(dir, $"instances_{split}.json");

    public static string Descriptor(string dir) => Path.Combine(dir, SceneDescriptor.FileName);
}
