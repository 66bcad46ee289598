using MtkdRl.Data.Batching;
using MtkdRl.Data.Scenes;
using MtkdRl.Reports.Metrics;
using MtkdRl.Training;

namespace MtkdRl.Teachers;

/// <summary>
/// Scores a segmentation network on a split: the argmax of each pixel's C+1 logits against the masks, summed
/// into one confusion matrix over the whole split (ignored pixels masked), so mIoU is the toolkits' (per class
/// over the split, not averaged per image). With <c>flip</c> (test-time augmentation, as segmentation toolkits'
/// flip test): each canvas also goes through the network mirrored left-right, and a pixel's decision is the argmax
/// of the mean of its two logit vectors (the mirrored map mirrored back), as <see cref="FlipTestTeacher"/> answers.
/// </summary>
public static class SegmentationEvaluator
{
    public const int DefaultBatch = 64;

    /// <param name="predictions">When given, [split.Count, H, W]: every canvas's per-pixel decisions.</param>
    public static SegmentationMetrics Evaluate(ISegmentationNetwork model, SceneSplit split, ChannelNormalization norm, int batch = DefaultBatch,
        bool flip = false, Span<byte> predictions = default)
    {
        if (!predictions.IsEmpty && predictions.Length != (long)split.Count * model.Pixels)
            throw new ArgumentException($"predictions hold {predictions.Length} pixels, the split has {split.Count} x {model.Pixels}");
        if (flip) model = FlipTestTeacher.Of(model);
        var matrix = new ConfusionMatrix(model.Classes);
        int P = model.Pixels, C = model.Classes;
        var x = new float[batch * model.InputShape.Size];
        var masks = new byte[batch * P];
        var predicted = new byte[batch * P];
        var indices = new int[batch];
        for (int start = 0; start < split.Count; start += batch)
        {
            int n = Math.Min(batch, split.Count - start);
            for (int i = 0; i < n; i++) indices[i] = start + i;
            SceneInputs.Fill(split, norm, indices.AsSpan(0, n), x, masks);
            model.Infer(x.AsSpan(0, n * model.InputShape.Size), n);
            SegmentationModel.Argmax(model.Logits, n, C, P, predicted.AsSpan(0, n * P));
            matrix.Add(predicted.AsSpan(0, n * P), masks.AsSpan(0, n * P), split.ToString());
            if (!predictions.IsEmpty) predicted.AsSpan(0, n * P).CopyTo(predictions.Slice(start * P));
        }
        return SegmentationMetrics.Of(matrix);
    }
}
