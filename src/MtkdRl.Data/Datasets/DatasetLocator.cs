using MtkdRl.Core;

namespace MtkdRl.Data.Datasets;

/// <summary>Which folder a run reads and why, before anything is loaded.</summary>
public sealed record DatasetChoice(string Directory, string Reason);

/// <summary>
/// Finds the dataset a command should use: the folder given with --data; else the full Fashion-MNIST installed
/// by Debian's dataset-fashion-mnist package; else the Fashion-MNIST slice committed under data/, so every
/// command works on a fresh checkout.
/// </summary>
public static class DatasetLocator
{
    public const string SystemFashionMnist = "/usr/share/datasets/fashion-mnist";

    /// <summary>The committed slice, relative to the repository root.</summary>
    public const string CommittedSlice = "data/fashion-mnist-slice";

    public static ImageDataset Open(string? dataDir) => Load(Resolve(dataDir).Directory);

    /// <summary>Chooses the folder. <paramref name="systemDir"/> and <paramref name="sliceDir"/> replace the defaults (tests use that).</summary>
    public static DatasetChoice Resolve(string? dataDir, string? systemDir = SystemFashionMnist, string? sliceDir = null)
    {
        if (!string.IsNullOrEmpty(dataDir))
        {
            if (!Directory.Exists(dataDir)) throw new MtkdInputException($"--data {dataDir}: no such directory");
            return new DatasetChoice(dataDir, "--data");
        }
        if (systemDir is not null && IdxDataset.Recognises(systemDir))
            return new DatasetChoice(systemDir, "full Fashion-MNIST (Debian dataset-fashion-mnist)");
        string? slice = sliceDir ?? FindCommittedSlice();
        if (slice is not null && IdxDataset.Recognises(slice))
            return new DatasetChoice(slice, "Fashion-MNIST slice committed in the repository");
        throw new MtkdInputException(
            $"no dataset: pass --data DIR, install dataset-fashion-mnist ({SystemFashionMnist}), or run from a checkout holding {CommittedSlice}");
    }

    /// <summary>Reads whatever dataset the folder holds: MNIST-family IDX, CIFAR-10/100 binary, or NPY/NPZ.</summary>
    public static ImageDataset Load(string dir)
    {
        if (!Directory.Exists(dir)) throw new MtkdInputException($"{dir}: no such directory");
        var descriptor = DatasetDescriptor.TryRead(dir);
        var data = LoadImages(dir);
        return descriptor is null ? data : data.WithDescriptor(descriptor);
    }

    private static ImageDataset LoadImages(string dir)
    {
        if (IdxDataset.Recognises(dir)) return IdxDataset.Load(dir);
        if (CifarDataset.FindCifar10(dir) is not null) return CifarDataset.LoadCifar10(dir);
        if (CifarDataset.FindCifar100(dir) is not null) return CifarDataset.LoadCifar100(dir);
        if (NpyDataset.Recognises(dir)) return NpyDataset.Load(dir);
        throw new MtkdInputException(
            $"{dir}: no dataset recognised (expected IDX files such as train-images-idx3-ubyte.gz, CIFAR binaries such as data_batch_1.bin or train.bin, or train/images.npy + train/labels.npy)");
    }

    /// <summary>The committed slice, searched upwards from the program's folder and from the working directory.</summary>
    public static string? FindCommittedSlice()
    {
        foreach (string start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, CommittedSlice);
                if (IdxDataset.Recognises(candidate)) return candidate;
            }
        }
        return null;
    }
}
