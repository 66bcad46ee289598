using System.Security.Cryptography;
using MtkdRl.Core;

namespace MtkdRl.Data.Datasets;

/// <summary>A dataset's train and test splits, which agree on image size and classes, and where they came from.</summary>
public sealed class ImageDataset
{
    public ImageDataset(string name, string source, LabeledImages train, LabeledImages test, DatasetDescriptor? descriptor = null)
    {
        if (train.Channels != test.Channels || train.Height != test.Height || train.Width != test.Width)
            throw new MtkdInputException(
                $"{source}: train images are {train.Channels}x{train.Height}x{train.Width}, test images {test.Channels}x{test.Height}x{test.Width}");
        if (!train.ClassNames.SequenceEqual(test.ClassNames))
            throw new MtkdInputException($"{source}: train and test splits have different classes");
        Name = name;
        Source = source;
        Train = train;
        Test = test;
        Descriptor = descriptor;
        Mirror = MirrorInvariance.Of(name, descriptor);
    }

    /// <summary>A short name: "fashion-mnist", "mnist", "cifar-10", "cifar-100", or the folder's name.</summary>
    public string Name { get; }

    /// <summary>The folder it was read from.</summary>
    public string Source { get; }

    /// <summary>The folder's dataset.json, when it has one.</summary>
    public DatasetDescriptor? Descriptor { get; }

    /// <summary>Whether flips keep the classes, and what said so.</summary>
    public MirrorInvariance Mirror { get; }

    public LabeledImages Train { get; }
    public LabeledImages Test { get; }

    public int Channels => Train.Channels;
    public int Height => Train.Height;
    public int Width => Train.Width;
    public int ClassCount => Train.ClassCount;
    public IReadOnlyList<string> ClassNames => Train.ClassNames;

    /// <summary>SHA-256 over the train fingerprint then the test fingerprint.</summary>
    public string FingerprintHex => Convert.ToHexStringLower(SHA256.HashData([.. Train.Fingerprint, .. Test.Fingerprint]));

    public string ShortFingerprint => FingerprintHex[..12];

    /// <summary>The same splits with the descriptor of their folder.</summary>
    public ImageDataset WithDescriptor(DatasetDescriptor? descriptor) => new(Name, Source, Train, Test, descriptor);

    public override string ToString() =>
        $"{Name} ({Source}): {Train.Count} train + {Test.Count} test images of {Channels}x{Height}x{Width}, {ClassCount} classes";
}
