using MtkdRl.Core;
using MtkdRl.Data.Formats;

namespace MtkdRl.Data.Datasets;

/// <summary>
/// A folder of MNIST-family IDX files: train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
/// t10k-labels-idx1-ubyte, each raw or gzip (".gz"), with '.' accepted before "idx" as some mirrors spell it.
/// Ten classes named as Fashion-MNIST's when the folder's name (or its parent's) mentions "fashion", else digits,
/// unless a classes.txt says otherwise.
/// </summary>
public static class IdxDataset
{
    public static bool Recognises(string dir) => FindFile(dir, "train", "images", 3) is not null;

    public static ImageDataset Load(string dir)
    {
        // The folder and its parent name the dataset ("fashion-mnist", "FashionMNIST/raw"); higher folders say nothing.
        var folder = new DirectoryInfo(Path.GetFullPath(dir));
        string near = folder.Parent is null ? folder.Name : $"{folder.Parent.Name}/{folder.Name}";
        bool fashion = near.Contains("fashion", StringComparison.OrdinalIgnoreCase);
        IReadOnlyList<string>? listed = ClassNames.TryReadFile(Path.Combine(dir, ClassNames.FileName));
        IReadOnlyList<string> names = listed ?? (fashion ? ClassNames.FashionMnist : ClassNames.Digits);
        string name = fashion ? "fashion-mnist" : near.Contains("mnist", StringComparison.OrdinalIgnoreCase) ? "mnist" : folder.Name;

        var train = LoadSplit(dir, "train", $"{name}/train", names, listed is not null);
        var test = LoadSplit(dir, "t10k", $"{name}/test", names, listed is not null);
        return new ImageDataset(name, dir, train, test);
    }

    private static LabeledImages LoadSplit(string dir, string prefix, string splitName, IReadOnlyList<string> names, bool namesListed)
    {
        string imagesPath = RequireFile(dir, prefix, "images", 3);
        string labelsPath = RequireFile(dir, prefix, "labels", 1);

        // Compare the two headers before either payload is read.
        IdxHeader imagesHeader = IdxFile.ReadHeader(imagesPath);
        IdxHeader labelsHeader = IdxFile.ReadHeader(labelsPath);
        if (imagesHeader.Rank == 3 && labelsHeader.Rank == 1 && imagesHeader.Dims[0] != labelsHeader.Dims[0])
            throw new MtkdInputException(
                $"{labelsPath}: holds {labelsHeader.Dims[0]} labels, but {Path.GetFileName(imagesPath)} holds {imagesHeader.Dims[0]} images");

        IdxArray images = IdxFile.ReadImages(imagesPath);
        int[] labels = IdxFile.ReadLabels(labelsPath, 256);
        ClassNames.CheckLabels(labelsPath, labels, names.Count, namesListed);
        return new LabeledImages(splitName, 1, images.Dims[1], images.Dims[2], images.Data, labels, names);
    }

    private static string RequireFile(string dir, string prefix, string kind, int rank) =>
        FindFile(dir, prefix, kind, rank)
        ?? throw new MtkdInputException($"{dir}: has IDX files but no {prefix}-{kind}-idx{rank}-ubyte[.gz]");

    private static string? FindFile(string dir, string prefix, string kind, int rank)
    {
        foreach (string separator in new[] { "-", "." })
            foreach (string suffix in new[] { ".gz", "" })
            {
                string path = Path.Combine(dir, $"{prefix}-{kind}{separator}idx{rank}-ubyte{suffix}");
                if (File.Exists(path)) return path;
            }
        return null;
    }
}
