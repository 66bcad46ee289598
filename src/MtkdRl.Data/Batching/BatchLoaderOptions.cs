namespace MtkdRl.Data.Batching;

/// <summary>How a <see cref="BatchLoader"/> orders, augments and cuts the data. The defaults suit evaluation: in order, no augmentation, every row kept.</summary>
public sealed record BatchLoaderOptions
{
    /// <summary>B, rows per batch.</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>A fresh random order every epoch.</summary>
    public bool Shuffle { get; init; }

    /// <summary>Drop the last batch when it has fewer than B rows (keeps batch statistics comparable).</summary>
    public bool DropLast { get; init; }

    /// <summary>Random crop: pad each side by this many black pixels, then cut a window of the original size at a random offset. 0 = off.</summary>
    public int CropPadding { get; init; }

    /// <summary>Mirror each image left-right with probability 1/2.</summary>
    public bool HorizontalFlip { get; init; }

    public bool Augments => CropPadding > 0 || HorizontalFlip;

    public static BatchLoaderOptions Evaluation(int batchSize) => new() { BatchSize = batchSize };

    public static BatchLoaderOptions Training(int batchSize, int cropPadding = 0, bool horizontalFlip = false, bool dropLast = false) =>
        new() { BatchSize = batchSize, Shuffle = true, CropPadding = cropPadding, HorizontalFlip = horizontalFlip, DropLast = dropLast };
}
