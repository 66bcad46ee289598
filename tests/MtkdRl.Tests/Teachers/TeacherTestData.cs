using MtkdRl.Data.Datasets;
using MtkdRl.Data.Formats;
using MtkdRl.Tests.Data;

namespace MtkdRl.Tests.Teachers;

/// <summary>The committed Fashion-MNIST slice, and small stratified cuts of it that keep teacher tests fast.</summary>
public static class TeacherTestData
{
    private static readonly Lazy<ImageDataset> SliceInstance =
        new(() => DatasetLocator.Load(Path.Combine(RepositoryPaths.Root, DatasetLocator.CommittedSlice)));

    private static readonly Lazy<ImageDataset> TinyInstance = new(() => Cut(60, 20));

    /// <summary>10,000 train / 2,000 test images.</summary>
    public static ImageDataset Slice => SliceInstance.Value;

    /// <summary>600 train / 200 test images, the first of each class in the slice.</summary>
    public static ImageDataset Tiny => TinyInstance.Value;

    /// <summary>The first <paramref name="trainPerClass"/> / <paramref name="testPerClass"/> images of each class of the slice.</summary>
    public static ImageDataset Cut(int trainPerClass, int testPerClass)
    {
        var slice = Slice;
        return new ImageDataset("fashion-mnist", slice.Source + "#cut",
            slice.Train.Subset(FirstPerClass(slice.Train, trainPerClass), "fashion-mnist/train"),
            slice.Test.Subset(FirstPerClass(slice.Test, testPerClass), "fashion-mnist/test"));
    }

    private static int[] FirstPerClass(LabeledImages split, int perClass)
    {
        var taken = new int[split.ClassCount];
        var rows = new List<int>();
        for (int i = 0; i < split.Count; i++)
            if (taken[split.Labels[i]]++ < perClass) rows.Add(i);
        return [.. rows];
    }

    /// <summary>Writes <paramref name="data"/> as an IDX folder (for the CLI) named so its classes read as Fashion-MNIST's.</summary>
    public static string WriteIdx(ImageDataset data, string parent, string folder = "fashion-tiny")
    {
        string dir = Path.Combine(parent, folder);
        Directory.CreateDirectory(dir);
        foreach (var (split, prefix) in new[] { (data.Train, "train"), (data.Test, "t10k") })
        {
            IdxFile.Write(Path.Combine(dir, $"{prefix}-images-idx3-ubyte.gz"), split.Pixels, [split.Count, split.Height, split.Width]);
            IdxFile.Write(Path.Combine(dir, $"{prefix}-labels-idx1-ubyte.gz"), split.Labels.Select(l => (byte)l).ToArray(), [split.Count]);
        }
        return dir;
    }
}
