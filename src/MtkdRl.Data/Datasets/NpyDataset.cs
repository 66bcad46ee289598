using MtkdRl.Core;
using MtkdRl.Data.Formats;

namespace MtkdRl.Data.Datasets;

/// <summary>
/// A dataset exported from numpy: for each split ("train", "test") either split/images.npy + split/labels.npy or
/// split.npz holding arrays "images" and "labels". Images are uint8, [N,H,W] (one channel) or [N,Ch,H,W]
/// (channels-first); labels are integers [N]. Class names come from classes.txt, else 0..max label.
/// </summary>
public static class NpyDataset
{
    public static bool Recognises(string dir) =>
        File.Exists(Path.Combine(dir, "train", "images.npy")) || File.Exists(Path.Combine(dir, "train.npz"));

    public static ImageDataset Load(string dir)
    {
        var (trainImages, trainLabels) = ReadSplit(dir, "train");
        var (testImages, testLabels) = ReadSplit(dir, "test");

        IReadOnlyList<string>? listed = ClassNames.TryReadFile(Path.Combine(dir, ClassNames.FileName));
        int maxLabel = Math.Max(MaxOf(trainLabels.Values), MaxOf(testLabels.Values));
        IReadOnlyList<string> names = listed ?? ClassNames.Numbered(Math.Max(2, maxLabel + 1));
        ClassNames.CheckLabels(trainLabels.Source, trainLabels.Values, names.Count, listed is not null);
        ClassNames.CheckLabels(testLabels.Source, testLabels.Values, names.Count, listed is not null);

        string name = Path.GetFileName(Path.GetFullPath(dir).TrimEnd('/'));
        return new ImageDataset(name, dir,
            Build($"{name}/train", trainImages, trainLabels.Values, names),
            Build($"{name}/test", testImages, testLabels.Values, names));
    }

    private static (NpyArray Images, (int[] Values, string Source) Labels) ReadSplit(string dir, string split)
    {
        string imagesPath = Path.Combine(dir, split, "images.npy");
        string labelsPath = Path.Combine(dir, split, "labels.npy");
        string npzPath = Path.Combine(dir, split + ".npz");
        NpyHeader imagesHeader, labelsHeader;
        Func<NpyArray> readImages, readLabels;
        if (File.Exists(imagesPath))
        {
            imagesHeader = NpyFile.ReadHeader(imagesPath);
            labelsHeader = NpyFile.ReadHeader(labelsPath);
            readImages = () => NpyFile.Read(imagesPath);
            readLabels = () => NpyFile.Read(labelsPath);
        }
        else if (File.Exists(npzPath))
        {
            imagesHeader = NpzFile.ReadHeader(npzPath, "images");
            labelsHeader = NpzFile.ReadHeader(npzPath, "labels");
            readImages = () => NpzFile.Read(npzPath, "images");
            readLabels = () => NpzFile.Read(npzPath, "labels");
            imagesPath = $"{npzPath}:images";
            labelsPath = $"{npzPath}:labels";
        }
        else
        {
            throw new MtkdInputException($"{dir}: no {split} split (expected {split}/images.npy + {split}/labels.npy or {split}.npz)");
        }

        // Shapes, dtypes and counts are checked from the headers before any data is read.
        if (imagesHeader.DType != NpyDType.UInt8)
            throw new MtkdInputException($"{imagesPath}: images must be uint8, found {imagesHeader.DType.Name()}");
        int rank = imagesHeader.Shape.Length;
        if (rank is not (3 or 4))
            throw new MtkdInputException($"{imagesPath}: images shape {imagesHeader.ShapeText} must be [N,H,W] or [N,Ch,H,W]");
        if (rank == 4 && imagesHeader.Shape[3] is 1 or 3 && imagesHeader.Shape[1] is not (1 or 3))
            throw new MtkdInputException(
                $"{imagesPath}: images shape {imagesHeader.ShapeText} looks channels-last; save them as [N,Ch,H,W] (transpose(0, 3, 1, 2))");
        if (labelsHeader.DType is not (NpyDType.UInt8 or NpyDType.Int8 or NpyDType.Int32 or NpyDType.Int64))
            throw new MtkdInputException($"{labelsPath}: labels must be integers, found {labelsHeader.DType.Name()}");
        if (labelsHeader.Shape.Length != 1)
            throw new MtkdInputException($"{labelsPath}: labels shape {labelsHeader.ShapeText} must be [N]");
        if (labelsHeader.Shape[0] != imagesHeader.Shape[0])
            throw new MtkdInputException(
                $"{labelsPath}: holds {labelsHeader.Shape[0]} labels, but {imagesPath} holds {imagesHeader.Shape[0]} images");

        NpyArray images = readImages();
        int[] labels = readLabels().ToInt32();
        return (images, (labels, labelsPath));
    }

    private static LabeledImages Build(string name, NpyArray images, int[] labels, IReadOnlyList<string> names)
    {
        var shape = images.Shape;
        int ch = shape.Count == 4 ? shape[1] : 1;
        return new LabeledImages(name, ch, shape[^2], shape[^1], images.Get<byte>(), labels, names);
    }

    private static int MaxOf(int[] values) => values.Length == 0 ? 0 : values.Max();
}
