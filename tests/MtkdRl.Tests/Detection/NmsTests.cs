using MtkdRl.Training;

namespace MtkdRl.Tests.ObjectDetection;

public class NmsTests
{
    /// <summary>A detection of <paramref name="category"/> at [x, y, w, h] with its score (shared by the detection tests).</summary>
    internal static Detection D(int category, double x, double y, double w, double h, double score) =>
        new(new DetectionBox(category, x, y, w, h), score);

    [Fact]
    public void An_overlapping_box_of_the_same_class_is_suppressed_by_the_higher_score()
    {
        var kept = Nms.ClassWise([D(1, 1, 0, 10, 10, 0.6), D(1, 0, 0, 10, 10, 0.9)], 0.5);
        Assert.Equal([D(1, 0, 0, 10, 10, 0.9)], kept);
    }

    [Fact]
    public void Other_classes_never_suppress()
    {
        var kept = Nms.ClassWise([D(1, 0, 0, 10, 10, 0.9), D(2, 0, 0, 10, 10, 0.8)], 0.5);
        Assert.Equal(2, kept.Count);
    }

    [Fact]
    public void An_iou_of_exactly_the_threshold_is_kept()
    {
        // IoU of these two is 50 / 100 = 0.5: suppression needs more than the threshold.
        var kept = Nms.ClassWise([D(1, 0, 0, 10, 10, 0.9), D(1, 0, 0, 10, 5, 0.8)], 0.5);
        Assert.Equal(2, kept.Count);
        Assert.Single(Nms.ClassWise([D(1, 0, 0, 10, 10, 0.9), D(1, 0, 0, 10, 5, 0.8)], 0.49));
    }

    [Fact]
    public void A_suppressed_box_suppresses_nothing()
    {
        // B overlaps A and C (IoU 0.67 each); A and C overlap by 0.33. Greedy: A keeps, B goes, C stays.
        var a = D(1, 0, 0, 10, 10, 0.9);
        var b = D(1, 2, 0, 10, 10, 0.8);
        var c = D(1, 5, 0, 10, 10, 0.7);
        Assert.Equal([a, c], Nms.ClassWise([c, b, a], 0.5));
    }

    [Fact]
    public void Tied_scores_keep_their_input_order()
    {
        var first = D(1, 0, 0, 10, 10, 0.5);
        var second = D(1, 1, 1, 10, 10, 0.5);
        Assert.Equal([first], Nms.ClassWise([first, second], 0.5));
        Assert.Equal([second], Nms.ClassWise([second, first], 0.5));
    }
}
