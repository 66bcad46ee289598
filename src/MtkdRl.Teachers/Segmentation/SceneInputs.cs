using MtkdRl.Data.Batching;
using MtkdRl.Data.Datasets;
using MtkdRl.Data.Scenes;

namespace MtkdRl.Teachers;

/// <summary>
/// Network inputs from a scenes split: canvases normalised per channel (the training split's mean and std, as
/// for classification) and their masks, for a list of canvas indices, optionally mirrored left-right (image and
/// mask together, so labels stay aligned).
/// </summary>
public static class SceneInputs
{
    /// <summary>Per-channel mean and std of the training canvases (pixel / 255).</summary>
    public static ChannelNormalization Normalization(SceneSplit train) =>
        ChannelNormalization.FromTrainingSplit(new LabeledImages("scenes", train.Channels, train.Canvas, train.Canvas, train.Images,
            new int[train.Count], ["background", "object"]));

    /// <summary>
    /// Writes canvases <paramref name="indices"/> into <paramref name="x"/> [n, Ch, S, S] and their masks into
    /// <paramref name="masks"/> [n, S, S]; canvas i is mirrored where <paramref name="mirror"/>[i] is true.
    /// </summary>
    public static void Fill(SceneSplit split, ChannelNormalization norm, ReadOnlySpan<int> indices, Span<float> x, Span<byte> masks,
        ReadOnlySpan<bool> mirror = default)
    {
        int S = split.Canvas, plane = S * S, ch = split.Channels;
        for (int i = 0; i < indices.Length; i++)
        {
            var image = split.Image(indices[i]);
            var mask = split.Mask(indices[i]);
            bool flip = !mirror.IsEmpty && mirror[i];
            for (int c = 0; c < ch; c++)
            {
                var src = image.Slice(c * plane, plane);
                var dst = x.Slice((i * ch + c) * plane, plane);
                for (int r = 0; r < S; r++)
                    for (int col = 0; col < S; col++)
                        dst[r * S + col] = norm.Apply(c, src[r * S + (flip ? S - 1 - col : col)]);
            }
            var m = masks.Slice(i * plane, plane);
            for (int r = 0; r < S; r++)
                for (int col = 0; col < S; col++)
                    m[r * S + col] = mask[r * S + (flip ? S - 1 - col : col)];
        }
    }
}
