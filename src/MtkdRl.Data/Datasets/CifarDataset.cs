using MtkdRl.Core;
using MtkdRl.Data.Formats;

namespace MtkdRl.Data.Datasets;

/// <summary>
/// The CIFAR binary distributions: CIFAR-10's data_batch_1..5.bin + test_batch.bin (+ batches.meta.txt), and
/// CIFAR-100's train.bin + test.bin (+ fine_label_names.txt / coarse_label_names.txt), found in the folder itself
/// or in the subfolder the archive extracts to.
/// </summary>
public static class CifarDataset
{
    public const int TrainBatches = 5;

    public static string? FindCifar10(string dir) =>
        new[] { dir, Path.Combine(dir, "cifar-10-batches-bin") }.FirstOrDefault(d => File.Exists(Path.Combine(d, "data_batch_1.bin")));

    public static string? FindCifar100(string dir) =>
        new[] { dir, Path.Combine(dir, "cifar-100-binary") }.FirstOrDefault(d => File.Exists(Path.Combine(d, "train.bin")));

    public static ImageDataset LoadCifar10(string dir)
    {
        string root = FindCifar10(dir) ?? throw new MtkdInputException($"{dir}: no CIFAR-10 data_batch_1.bin here");
        var trainFiles = Enumerable.Range(1, TrainBatches).Select(i => Require(root, $"data_batch_{i}.bin")).ToArray();
        string testFile = Require(root, "test_batch.bin");
        var names = NamesOrDefault(Path.Combine(root, "batches.meta.txt"), ClassNames.Cifar10, 10);
        return Build("cifar-10", root, CifarVariant.Cifar10, CifarLabelKind.Fine, trainFiles, testFile, names);
    }

    public static ImageDataset LoadCifar100(string dir, CifarLabelKind kind = CifarLabelKind.Fine)
    {
        string root = FindCifar100(dir) ?? throw new MtkdInputException($"{dir}: no CIFAR-100 train.bin here");
        string trainFile = Require(root, "train.bin");
        string testFile = Require(root, "test.bin");
        int classes = CifarBinary.ClassCount(CifarVariant.Cifar100, kind);
        string namesFile = kind == CifarLabelKind.Fine ? "fine_label_names.txt" : "coarse_label_names.txt";
        var names = NamesOrDefault(Path.Combine(root, namesFile), ClassNames.Numbered(classes), classes);
        string name = kind == CifarLabelKind.Fine ? "cifar-100" : "cifar-100-coarse";
        return Build(name, root, CifarVariant.Cifar100, kind, [trainFile], testFile, names);
    }

    private static ImageDataset Build(string name, string root, CifarVariant variant, CifarLabelKind kind,
        string[] trainFiles, string testFile, IReadOnlyList<string> names)
    {
        // Size-check every file before reading any of them.
        foreach (string file in trainFiles.Append(testFile)) CifarBinary.CountRecords(file, variant);
        var (trainPixels, trainLabels) = CifarBinary.Read(trainFiles, variant, kind);
        var (testPixels, testLabels) = CifarBinary.Read([testFile], variant, kind);
        const int ch = CifarBinary.Channels, h = CifarBinary.Height, w = CifarBinary.Width;
        return new ImageDataset(name, root,
            new LabeledImages($"{name}/train", ch, h, w, trainPixels, trainLabels, names),
            new LabeledImages($"{name}/test", ch, h, w, testPixels, testLabels, names));
    }

    private static IReadOnlyList<string> NamesOrDefault(string path, IReadOnlyList<string> fallback, int expected)
    {
        var names = ClassNames.TryReadFile(path);
        if (names is null) return fallback;
        if (names.Count != expected) throw new MtkdInputException($"{path}: lists {names.Count} class names, expected {expected}");
        return names;
    }

    private static string Require(string root, string file)
    {
        string path = Path.Combine(root, file);
        return File.Exists(path) ? path : throw new MtkdInputException($"{root}: CIFAR file {file} is missing");
    }
}
