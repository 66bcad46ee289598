using MtkdRl.Core;

namespace MtkdRl.Reports.Metrics;

/// <summary>
/// Per-pixel confusion counts of a segmentation over a whole split, as segmentation toolkits accumulate them:
/// rows are the true class, columns the predicted class, over K = C + 1 classes (background 0 and 1..C); pixels
/// whose label is the ignore value (255) are left out. IoU and accuracy come from the summed counts, not from
/// per-image averages, so a large image weighs as many pixels as it has.
/// </summary>
public sealed class ConfusionMatrix
{
    public const byte IgnoreLabel = 255;

    private readonly long[] _counts;

    /// <summary><paramref name="classCount"/> is K, background included (C + 1 for C object classes).</summary>
    public ConfusionMatrix(int classCount)
    {
        if (classCount is < 2 or > IgnoreLabel)
            throw new ArgumentOutOfRangeException(nameof(classCount), classCount, $"must be in 2..{IgnoreLabel}");
        ClassCount = classCount;
        _counts = new long[classCount * classCount];
    }

    public int ClassCount { get; }

    /// <summary>Pixels counted (labels other than the ignore value).</summary>
    public long ValidPixels { get; private set; }

    /// <summary>Pixels whose label is <paramref name="label"/> and prediction <paramref name="predicted"/>.</summary>
    public long this[int label, int predicted] => _counts[label * ClassCount + predicted];

    /// <summary>
    /// Adds one image (or any batch) of predictions and labels, pixel by pixel. A label outside 0..K-1 other than
    /// 255, or a prediction outside 0..K-1, is an error naming <paramref name="source"/> and the pixel.
    /// </summary>
    public void Add(ReadOnlySpan<byte> predicted, ReadOnlySpan<byte> labels, string source = "segmentation")
    {
        if (predicted.Length != labels.Length)
            throw new MtkdInputException($"{source}: {predicted.Length} predicted pixels but {labels.Length} labels");
        long counted = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            int label = labels[i];
            if (label == IgnoreLabel) continue;
            int guess = predicted[i];
            if (label >= ClassCount) throw new MtkdInputException($"{source}: label {label} at pixel {i} is outside 0..{ClassCount - 1} and not 255 (ignore)");
            if (guess >= ClassCount) throw new MtkdInputException($"{source}: prediction {guess} at pixel {i} is outside 0..{ClassCount - 1}");
            _counts[label * ClassCount + guess]++;
            counted++;
        }
        ValidPixels += counted;
    }

    /// <summary>TP / (TP + FP + FN) of each class; NaN for a class absent from both labels and predictions.</summary>
    public double[] PerClassIoU()
    {
        var iou = new double[ClassCount];
        for (int c = 0; c < ClassCount; c++)
        {
            long tp = this[c, c], labelled = 0, predicted = 0;
            for (int j = 0; j < ClassCount; j++)
            {
                labelled += this[c, j];
                predicted += this[j, c];
            }
            long union = labelled + predicted - tp;
            iou[c] = union == 0 ? double.NaN : (double)tp / union;
        }
        return iou;
    }

    /// <summary>The mean of the per-class IoUs over the classes present in labels or predictions; NaN when no pixel was counted.</summary>
    public double MeanIoU()
    {
        double sum = 0;
        int present = 0;
        foreach (double v in PerClassIoU())
        {
            if (double.IsNaN(v)) continue;
            sum += v;
            present++;
        }
        return present == 0 ? double.NaN : sum / present;
    }

    /// <summary>
    /// The IoU of the object classes merged into one (every class but background 0): pixels labelled and predicted
    /// as any object over those labelled or predicted as one; NaN when neither happens. A pixel of one garment
    /// predicted as another counts here, so its gap to the per-class IoUs is what telling the classes apart costs.
    /// </summary>
    public double ForegroundIoU()
    {
        long both = 0, labelled = 0, predicted = 0;
        for (int label = 0; label < ClassCount; label++)
            for (int guess = 0; guess < ClassCount; guess++)
            {
                long n = this[label, guess];
                if (label != 0) labelled += n;
                if (guess != 0) predicted += n;
                if (label != 0 && guess != 0) both += n;
            }
        long union = labelled + predicted - both;
        return union == 0 ? double.NaN : (double)both / union;
    }

    /// <summary>Correct pixels over counted pixels; NaN when no pixel was counted.</summary>
    public double PixelAccuracy()
    {
        long correct = 0;
        for (int c = 0; c < ClassCount; c++) correct += this[c, c];
        return ValidPixels == 0 ? double.NaN : (double)correct / ValidPixels;
    }
}
