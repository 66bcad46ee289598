namespace MtkdRl.Data.Batching;

/// <summary>
/// One batch, refilled in place by <see cref="BatchLoader"/>: Count rows of normalised float32 images
/// [Count, Ch, H, W], their labels, and their row indices in the dataset (which key the teacher-output cache).
/// The buffers hold <see cref="Capacity"/> rows; only the first Count are valid.
/// </summary>
public sealed class ImageBatch
{
    public ImageBatch(int capacity, int channels, int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        Channels = channels;
        Height = height;
        Width = width;
        ImageBuffer = new float[(long)capacity * channels * height * width];
        LabelBuffer = new int[capacity];
        IndexBuffer = new int[capacity];
    }

    public int Capacity { get; }
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int ImageSize => Channels * Height * Width;

    /// <summary>Rows filled, at most Capacity (fewer only in a kept last batch).</summary>
    public int Count { get; internal set; }

    /// <summary>Epoch (0-based) and position within it of the batch now held.</summary>
    public int Epoch { get; internal set; }
    public int BatchIndex { get; internal set; }

    /// <summary>The whole buffer, [Capacity, Ch, H, W]; rows past Count hold stale data.</summary>
    public float[] ImageBuffer { get; }
    public int[] LabelBuffer { get; }
    public int[] IndexBuffer { get; }

    public Span<float> Images => ImageBuffer.AsSpan(0, Count * ImageSize);
    public Span<int> Labels => LabelBuffer.AsSpan(0, Count);
    public Span<int> Indices => IndexBuffer.AsSpan(0, Count);

    public Span<float> Image(int row) => ImageBuffer.AsSpan(row * ImageSize, ImageSize);
}
