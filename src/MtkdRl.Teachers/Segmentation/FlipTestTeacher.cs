using MtkdRl.Core;
using MtkdRl.Training;

namespace MtkdRl.Teachers;

/// <summary>
/// A segmentation network answering with the flip test of segmentation toolkits: each canvas also goes through the
/// network mirrored left-right, and its logit maps are the mean of the two (the mirrored maps mirrored back), its
/// embedding the mean of the two embeddings. For f the network and M the left-right mirror of a map,
/// <c>logits(x) = (f(x) + M f(M x)) / 2</c>, so <c>logits(M x) = M logits(x)</c> exactly: the answer is
/// equivariant to mirroring whatever f is. Only meaningful where the classes are mirror-invariant.
/// <c>eval --flip</c> scores a network through it; a pool teacher imported with <c>--flip-test</c> is this in its
/// score, its cache and live runs. Disposing it disposes the network it wraps.
/// </summary>
public sealed class FlipTestTeacher : ISegmentationNetwork, IDisposable
{
    private readonly ISegmentationNetwork _network;
    private float[] _mirrored = [], _logits = [], _embedding = [];
    private int _images;

    private FlipTestTeacher(ISegmentationNetwork network) => _network = network;

    /// <summary><paramref name="network"/> answering with the flip test (itself when it already does).</summary>
    public static ISegmentationNetwork Of(ISegmentationNetwork network) => network is FlipTestTeacher ? network : new FlipTestTeacher(network);

    /// <summary><paramref name="network"/> as its pool serves it: with the flip test when its entry says flip_test.</summary>
    public static ISegmentationNetwork AsServed(PoolTeacher entry, ISegmentationNetwork network) => entry.FlipTest ? Of(network) : network;

    public SampleShape InputShape => _network.InputShape;

    public int Classes => _network.Classes;

    public int Pixels => _network.Pixels;

    public int EmbeddingWidth => _network.EmbeddingWidth;

    public ReadOnlySpan<float> Logits => _logits.AsSpan(0, _images * Classes * Pixels);

    public ReadOnlySpan<float> Embedding => _embedding.AsSpan(0, _images * EmbeddingWidth);

    public void Infer(ReadOnlySpan<float> x, int images)
    {
        int size = InputShape.Size, W = InputShape.Width, maps = images * Classes, D = EmbeddingWidth;
        if (x.Length < images * size) throw new ArgumentException($"x holds {x.Length} values, {images} images need {images * size}");
        Grow(ref _mirrored, images * size);
        Grow(ref _logits, maps * Pixels);
        Grow(ref _embedding, images * D);
        _images = images;
        MirrorRows(x[..(images * size)], _mirrored, W);
        _network.Infer(x[..(images * size)], images);
        _network.Logits[..(maps * Pixels)].CopyTo(_logits);
        _network.Embedding[..(images * D)].CopyTo(_embedding);
        _network.Infer(_mirrored.AsSpan(0, images * size), images);
        AddMirrored(_network.Logits, _logits, maps * Pixels, W);
        var e = _network.Embedding;
        for (int i = 0; i < images * D; i++) _embedding[i] = 0.5f * (_embedding[i] + e[i]);
    }

    /// <summary>Every row of <paramref name="width"/> values of <paramref name="from"/>, reversed, into <paramref name="to"/>.</summary>
    public static void MirrorRows(ReadOnlySpan<float> from, Span<float> to, int width)
    {
        for (int row = 0; row < from.Length; row += width)
            for (int col = 0; col < width; col++) to[row + col] = from[row + width - 1 - col];
    }

    /// <summary>sum = (sum + mirror(mirrored)) / 2 over the first <paramref name="count"/> values, rows of <paramref name="width"/>.</summary>
    public static void AddMirrored(ReadOnlySpan<float> mirrored, Span<float> sum, int count, int width)
    {
        for (int row = 0; row < count; row += width)
            for (int col = 0; col < width; col++)
                sum[row + col] = 0.5f * (sum[row + col] + mirrored[row + width - 1 - col]);
    }

    private static void Grow(ref float[] buffer, int length)
    {
        if (buffer.Length < length) buffer = new float[length];
    }

    public void Dispose() => (_network as IDisposable)?.Dispose();
}
