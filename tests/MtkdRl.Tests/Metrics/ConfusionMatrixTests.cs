using MtkdRl.Core;
using MtkdRl.Reports.Metrics;

namespace MtkdRl.Tests.Metrics;

/// <summary>mIoU, pixel accuracy and per-class IoU against confusion matrices worked out by hand.</summary>
public class ConfusionMatrixTests
{
    private const byte Ignore = 255;

    [Fact]
    public void A_perfect_prediction_scores_one()
    {
        byte[] labels = [0, 1, 2, 2, 1, 0, 0];
        var m = new ConfusionMatrix(3);
        m.Add(labels, labels);
        Assert.Equal(1.0, m.MeanIoU());
        Assert.Equal(1.0, m.PixelAccuracy());
        Assert.Equal([1.0, 1.0, 1.0], m.PerClassIoU());
        Assert.Equal(1.0, m.ForegroundIoU());
        var background = new ConfusionMatrix(3);
        background.Add([0, 0], [0, 0]);
        Assert.True(double.IsNaN(background.ForegroundIoU()));
    }

    [Fact]
    public void Three_classes_match_the_matrix_worked_by_hand()
    {
        // label:     0 0 0 0 1 1 1 2 2 2
        // predicted: 0 0 1 2 1 1 0 2 2 1
        // Matrix [label, predicted]: row 0 = (2, 1, 1), row 1 = (1, 2, 0), row 2 = (0, 1, 2).
        // Class 0: TP 2, FN 2 (row 0 off the diagonal), FP 1 (column 0 off the diagonal) -> 2 / 5 = 0.4.
        // Class 1: TP 2, FN 1, FP 2 -> 2 / 5 = 0.4.   Class 2: TP 2, FN 1, FP 1 -> 2 / 4 = 0.5.
        // mIoU = (0.4 + 0.4 + 0.5) / 3 = 1.3 / 3; pixel accuracy = 6 / 10.
        var m = new ConfusionMatrix(3);
        m.Add([0, 0, 1, 2, 1, 1, 0, 2, 2, 1], [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]);
        Assert.Equal(new long[] { 2, 1, 1, 1, 2, 0, 0, 1, 2 }, Enumerable.Range(0, 9).Select(i => m[i / 3, i % 3]));
        var iou = m.PerClassIoU();
        Assert.Equal(0.4, iou[0], 12);
        Assert.Equal(0.4, iou[1], 12);
        Assert.Equal(0.5, iou[2], 12);
        Assert.Equal(1.3 / 3, m.MeanIoU(), 12);
        Assert.Equal(0.6, m.PixelAccuracy(), 12);
        Assert.Equal(10, m.ValidPixels);
        // Classes 1 and 2 merged: labelled object pixels 3 + 3 = 6 (rows 1 and 2), predicted 4 + 3 = 7 (columns 1 and 2),
        // both 2 + 0 + 1 + 2 = 5 (rows 1-2 x columns 1-2) -> 5 / (6 + 7 - 5) = 5 / 8.
        Assert.Equal(5.0 / 8, m.ForegroundIoU(), 12);
        Assert.Equal(5.0 / 8, SegmentationMetrics.Of(m).ForegroundIoU, 12);
    }

    [Fact]
    public void Ignored_pixels_count_nowhere_whatever_is_predicted()
    {
        // Without the two ignored pixels: labels 0 1 1, predicted 0 1 0.
        // Class 0: TP 1, FP 1 -> 0.5; class 1: TP 1, FN 1 -> 0.5; accuracy 2 / 3.
        var m = new ConfusionMatrix(2);
        m.Add([1, 0, 1, 0, 1], [Ignore, 0, 1, 1, Ignore]);
        Assert.Equal(3, m.ValidPixels);
        Assert.Equal([0.5, 0.5], m.PerClassIoU());
        Assert.Equal(0.5, m.MeanIoU(), 12);
        Assert.Equal(2.0 / 3, m.PixelAccuracy(), 12);
    }

    [Fact]
    public void A_class_absent_from_labels_and_predictions_is_left_out_of_the_mean()
    {
        // Classes 0, 1, 3 appear; class 2 never does. Labels 0 0 1 3, predicted 0 1 1 3:
        // class 0: 1 / 2, class 1: 1 / 2, class 3: 1 -> mIoU (0.5 + 0.5 + 1) / 3, not / 4.
        var m = new ConfusionMatrix(4);
        m.Add([0, 1, 1, 3], [0, 0, 1, 3]);
        var iou = m.PerClassIoU();
        Assert.True(double.IsNaN(iou[2]));
        Assert.Equal(2.0 / 3, m.MeanIoU(), 12);

        // A class only predicted (never labelled) counts, with IoU 0: labels 0 0, predicted 0 2.
        var wrong = new ConfusionMatrix(3);
        wrong.Add([0, 2], [0, 0]);
        Assert.Equal([0.5, double.NaN, 0.0], wrong.PerClassIoU());
        Assert.Equal(0.25, wrong.MeanIoU(), 12);
    }

    [Fact]
    public void The_whole_split_is_accumulated_not_averaged_per_image()
    {
        // Image A (4 pixels): labels 1 1 1 1, predicted 1 1 1 0 -> class 0: 0 / 1, class 1: 3 / 4.
        // Image B (2 pixels): labels 0 0, predicted 1 1 -> class 0: 0 / 2, class 1: 0 / 2.
        // Summed: class 0 TP 0, FN 2, FP 1 -> 0; class 1 TP 3, FN 1, FP 2 -> 3 / 6 = 0.5; mIoU 0.25.
        // The per-image average would be ((0 + 0.75) / 2 + (0 + 0) / 2) / 2 = 0.1875.
        var m = new ConfusionMatrix(2);
        m.Add([1, 1, 1, 0], [1, 1, 1, 1]);
        m.Add([1, 1], [0, 0]);
        Assert.Equal([0.0, 0.5], m.PerClassIoU());
        Assert.Equal(0.25, m.MeanIoU(), 12);
        Assert.Equal(0.5, m.PixelAccuracy(), 12);

        var metrics = SegmentationMetrics.Of(2, [([1, 1, 1, 0], [1, 1, 1, 1]), ([1, 1], [0, 0])]);
        Assert.Equal(0.25, metrics.MeanIoU, 12);
        Assert.Equal(6, metrics.ValidPixels);
    }

    [Fact]
    public void Matches_a_float64_count_on_random_masks()
    {
        var rng = new Rng(11);
        const int k = 5;
        var m = new ConfusionMatrix(k);
        var tp = new double[k]; var fp = new double[k]; var fn = new double[k];
        double valid = 0;
        for (int image = 0; image < 7; image++)
        {
            var labels = new byte[50 + image];
            var predicted = new byte[labels.Length];
            for (int i = 0; i < labels.Length; i++)
            {
                labels[i] = rng.NextInt(10) == 0 ? Ignore : (byte)rng.NextInt(k - 1); // class 4 never labelled
                predicted[i] = (byte)rng.NextInt(k - 1);
                if (labels[i] == Ignore) continue;
                valid++;
                if (labels[i] == predicted[i]) tp[labels[i]]++;
                else { fn[labels[i]]++; fp[predicted[i]]++; }
            }
            m.Add(predicted, labels);
        }
        var expected = Enumerable.Range(0, k - 1).Select(c => tp[c] / (tp[c] + fp[c] + fn[c])).ToArray();
        var iou = m.PerClassIoU();
        for (int c = 0; c < k - 1; c++) Assert.Equal(expected[c], iou[c], 12);
        Assert.True(double.IsNaN(iou[k - 1]));
        Assert.Equal(expected.Average(), m.MeanIoU(), 12);
        Assert.Equal(tp.Sum() / valid, m.PixelAccuracy(), 12);
    }

    [Fact]
    public void Out_of_range_values_and_length_mismatches_are_one_line_errors()
    {
        var m = new ConfusionMatrix(3);
        Assert.Contains("label 3 at pixel 1 is outside 0..2", Assert.Throws<MtkdInputException>(() => m.Add([0, 0], [0, 3], "x")).Message);
        Assert.Contains("prediction 5 at pixel 0 is outside 0..2", Assert.Throws<MtkdInputException>(() => m.Add([5], [1], "x")).Message);
        Assert.Contains("x: 2 predicted pixels but 1 labels", Assert.Throws<MtkdInputException>(() => m.Add([0, 0], [0], "x")).Message);
        Assert.True(double.IsNaN(new ConfusionMatrix(2).MeanIoU()));
    }
}
