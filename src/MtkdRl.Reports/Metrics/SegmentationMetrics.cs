namespace MtkdRl.Reports.Metrics;

/// <summary>
/// The segmentation scores of a split: mean IoU, pixel accuracy, each class's IoU (NaN: absent from labels and
/// predictions) and the IoU of the object classes merged (<see cref="ConfusionMatrix.ForegroundIoU"/>).
/// </summary>
public sealed record SegmentationMetrics(double MeanIoU, double PixelAccuracy, IReadOnlyList<double> PerClassIoU, long ValidPixels,
    double ForegroundIoU)
{
    public static SegmentationMetrics Of(ConfusionMatrix matrix) =>
        new(matrix.MeanIoU(), matrix.PixelAccuracy(), matrix.PerClassIoU(), matrix.ValidPixels, matrix.ForegroundIoU());

    /// <summary>Accumulates every (prediction, label) pair of a split into one matrix of K classes and scores it.</summary>
    public static SegmentationMetrics Of(int classCount, IEnumerable<(byte[] Predicted, byte[] Labels)> images)
    {
        var matrix = new ConfusionMatrix(classCount);
        foreach (var (predicted, labels) in images) matrix.Add(predicted, labels);
        return Of(matrix);
    }
}
