using MtkdRl.Data.Batching;
using MtkdRl.Data.Scenes;
using MtkdRl.Reports.Metrics;
using MtkdRl.Training;

namespace MtkdRl.Teachers;

/// <summary>
/// Scores a segmentation network on a split: the argmax of each pixel's C+1 logits against the masks, summed
/// into one confusion matrix over the whole split (ignored pixels masked), so mIoU is the toolkits' (per class
/// over the split, not averaged per image).
/// </summary>
public static class SegmentationEvaluator
{
    public const int DefaultBatch = 64;

    public static SegmentationMetrics Evaluate(SegmentationModel model, SceneSplit split, ChannelNormalization norm, int batch = DefaultBatch)
    {
        var matrix = new ConfusionMatrix(model.Classes);
        int P = model.Pixels;
        var x = new float[batch * model.InputShape.Size];
        var masks = new byte[batch * P];
        var predicted = new byte[batch * P];
        var indices = new int[batch];
        for (int start = 0; start < split.Count; start += batch)
        {
            int n = Math.Min(batch, split.Count - start);
            for (int i = 0; i < n; i++) indices[i] = start + i;
            SceneInputs.Fill(split, norm, indices.AsSpan(0, n), x, masks);
            model.Forward(x.AsSpan(0, n * model.InputShape.Size), n, training: false);
            model.Predict(predicted.AsSpan(0, n * P));
            matrix.Add(predicted.AsSpan(0, n * P), masks.AsSpan(0, n * P), split.ToString());
        }
        return SegmentationMetrics.Of(matrix);
    }
}
