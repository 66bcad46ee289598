using System.Buffers.Binary;
using System.Security.Cryptography;
using MtkdRl.Core;

namespace MtkdRl.Data.Datasets;

/// <summary>
/// One split of an image classification dataset: N images of Ch x H x W unsigned-byte pixels, channels-first,
/// and N labels in [0, C). The fingerprint (SHA-256 over the shape, pixels and labels) identifies the exact data,
/// so a teacher cache or checkpoint made from one dataset can refuse another.
/// </summary>
public sealed class LabeledImages
{
    private byte[]? _fingerprint;

    public LabeledImages(string name, int channels, int height, int width, byte[] pixels, int[] labels, IReadOnlyList<string> classNames)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(classNames);
        if (channels <= 0 || height <= 0 || width <= 0)
            throw new MtkdInputException($"{name}: image size {channels}x{height}x{width} must be positive in every dimension");
        if (labels.Length == 0) throw new MtkdInputException($"{name}: empty dataset (no images)");
        if (classNames.Count < 2) throw new MtkdInputException($"{name}: {classNames.Count} classes, at least 2 are needed");
        long imageBytes = (long)channels * height * width;
        if ((long)labels.Length * imageBytes != pixels.LongLength)
            throw new MtkdInputException(
                $"{name}: {labels.Length} labels but {pixels.LongLength} pixel bytes, expected {labels.Length} images of {channels}x{height}x{width}");
        for (int i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)classNames.Count)
                throw new MtkdInputException($"{name}: label {labels[i]} at row {i} is outside 0..{classNames.Count - 1}");

        Name = name;
        Channels = channels;
        Height = height;
        Width = width;
        Pixels = pixels;
        Labels = labels;
        ClassNames = [.. classNames];
    }

    /// <summary>The split's name as used in messages, e.g. "fashion-mnist/train".</summary>
    public string Name { get; }

    /// <summary>N, the number of images.</summary>
    public int Count => Labels.Length;

    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }

    /// <summary>Ch * H * W: pixels in one image.</summary>
    public int ImageSize => Channels * Height * Width;

    /// <summary>C, the number of classes.</summary>
    public int ClassCount => ClassNames.Count;

    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>[N, Ch, H, W] unsigned bytes. Shared, not copied: never modify it (the fingerprint is computed once).</summary>
    public byte[] Pixels { get; }

    /// <summary>[N], each in [0, C). Shared, not copied: never modify it.</summary>
    public int[] Labels { get; }

    public ReadOnlySpan<byte> Image(int index) => Pixels.AsSpan(index * ImageSize, ImageSize);

    /// <summary>Images per class, indexed by label.</summary>
    public int[] ClassCounts()
    {
        var counts = new int[ClassCount];
        foreach (int label in Labels) counts[label]++;
        return counts;
    }

    /// <summary>SHA-256 over (N, Ch, H, W, C) as little-endian int32, then the pixels, then the labels as little-endian int32.</summary>
    public byte[] Fingerprint => (byte[])(_fingerprint ??= ComputeFingerprint()).Clone();

    public string FingerprintHex => Convert.ToHexStringLower(_fingerprint ??= ComputeFingerprint());

    /// <summary>The first 12 hex digits of the fingerprint, for logs and tables.</summary>
    public string ShortFingerprint => FingerprintHex[..12];

    /// <summary>The rows at <paramref name="indices"/>, in that order (for a teacher trained on part of the data).</summary>
    public LabeledImages Subset(ReadOnlySpan<int> indices, string name)
    {
        var pixels = new byte[(long)indices.Length * ImageSize];
        var labels = new int[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            int row = indices[i];
            if ((uint)row >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(indices), row, $"{Name} has {Count} rows");
            Image(row).CopyTo(pixels.AsSpan(i * ImageSize, ImageSize));
            labels[i] = Labels[row];
        }
        return new LabeledImages(name, Channels, Height, Width, pixels, labels, ClassNames);
    }

    public override string ToString() =>
        $"{Name}: {Count} images of {Channels}x{Height}x{Width}, {ClassCount} classes, fingerprint {ShortFingerprint}";

    private byte[] ComputeFingerprint()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> shape = stackalloc byte[20];
        int[] dims = [Count, Channels, Height, Width, ClassCount];
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(shape[(4 * i)..], dims[i]);
        hash.AppendData(shape);
        hash.AppendData(Pixels);
        Span<byte> chunk = stackalloc byte[4096];
        for (int start = 0; start < Labels.Length; start += chunk.Length / 4)
        {
            int n = Math.Min(chunk.Length / 4, Labels.Length - start);
            for (int i = 0; i < n; i++) BinaryPrimitives.WriteInt32LittleEndian(chunk[(4 * i)..], Labels[start + i]);
            hash.AppendData(chunk[..(4 * n)]);
        }
        return hash.GetHashAndReset();
    }
}
