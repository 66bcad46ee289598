using MtkdRl.Core;

namespace MtkdRl.Data.Datasets;

/// <summary>Class names of the known datasets, and the optional classes.txt (one name per line) any dataset folder may hold.</summary>
public static class ClassNames
{
    public const string FileName = "classes.txt";

    public static readonly IReadOnlyList<string> FashionMnist =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    public static readonly IReadOnlyList<string> Digits = Numbered(10);

    public static readonly IReadOnlyList<string> Cifar10 =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    public static IReadOnlyList<string> Numbered(int count) => Enumerable.Range(0, count).Select(i => i.ToString()).ToArray();

    /// <summary>Non-empty trimmed lines of a names file, or null when it does not exist.</summary>
    public static IReadOnlyList<string>? TryReadFile(string path)
    {
        if (!File.Exists(path)) return null;
        string[] names;
        try
        {
            names = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MtkdInputException($"{path}: cannot read ({e.Message})");
        }
        if (names.Length < 2) throw new MtkdInputException($"{path}: lists {names.Length} class names, at least 2 are needed");
        string? duplicate = names.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1)?.Key;
        if (duplicate is not null) throw new MtkdInputException($"{path}: class name '{duplicate}' appears twice");
        return names;
    }

    /// <summary>Throws naming the file when a label is outside [0, C), with a hint about classes.txt.</summary>
    internal static void CheckLabels(string path, ReadOnlySpan<int> labels, int classCount, bool fromClassesFile)
    {
        for (int i = 0; i < labels.Length; i++)
        {
            if ((uint)labels[i] < (uint)classCount) continue;
            string hint = fromClassesFile ? $" (as {FileName} lists {classCount} classes)" : $" (a {FileName} in the folder can name more classes)";
            throw new MtkdInputException($"{path}: label {labels[i]} at row {i} is outside 0..{classCount - 1}{hint}");
        }
    }
}
