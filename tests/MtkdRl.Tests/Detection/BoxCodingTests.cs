using MtkdRl.Training;

namespace MtkdRl.Tests.ObjectDetection;

public class BoxCodingTests
{
    [Fact]
    public void A_hand_worked_box_encodes_to_offset_and_log_size()
    {
        // Location (1, 1) at stride 8 has its centre at (12, 12); the box's centre is (16, 16), its sides 16.
        var t = new float[4];
        BoxCoding.Encode(new DetectionBox(3, 8, 8, 16, 16), 1, 1, 8, t);
        Assert.Equal(0.5f, t[0], 6);
        Assert.Equal(0.5f, t[1], 6);
        Assert.Equal((float)Math.Log(2), t[2], 6);
        Assert.Equal((float)Math.Log(2), t[3], 6);
        var back = BoxCoding.Decode(t, 1, 1, 8, 3);
        Assert.Equal(3, back.Category);
        Assert.Equal(8, back.X, 5);
        Assert.Equal(16, back.W, 5);
    }

    [Fact]
    public void Decoding_inverts_encoding_for_random_boxes_and_locations()
    {
        var rng = new Random(7);
        var t = new float[4];
        for (int i = 0; i < 500; i++)
        {
            int stride = 1 << rng.Next(0, 4);
            var box = new DetectionBox(1, rng.NextDouble() * 60 - 5, rng.NextDouble() * 60 - 5, 0.5 + rng.NextDouble() * 50, 0.5 + rng.NextDouble() * 50);
            int x = rng.Next(0, 64 / stride), y = rng.Next(0, 64 / stride);
            BoxCoding.Encode(box, x, y, stride, t);
            var back = BoxCoding.Decode(t, x, y, stride, 1);
            Assert.Equal(box.X, back.X, 1e-4 * (1 + Math.Abs(box.X) + box.W));
            Assert.Equal(box.Y, back.Y, 1e-4 * (1 + Math.Abs(box.Y) + box.H));
            Assert.Equal(box.W, back.W, 1e-5 * box.W);
            Assert.Equal(box.H, back.H, 1e-5 * box.H);
        }
    }

    [Fact]
    public void Wild_sizes_decode_to_finite_boxes_and_clipping_keeps_the_canvas()
    {
        var huge = BoxCoding.Decode([0, 0, 1e6f, -1e6f], 0, 0, 8, 1);
        Assert.True(double.IsFinite(huge.W) && double.IsFinite(huge.H) && huge.H > 0);
        var clipped = BoxCoding.Clip(new DetectionBox(2, -5, 10, 20, 100), 64, 64);
        Assert.Equal(new DetectionBox(2, 0, 10, 15, 54), clipped);
    }

    [Fact]
    public void Iou_follows_coco_without_the_plus_one()
    {
        var a = new DetectionBox(1, 0, 0, 10, 10);
        Assert.Equal(0.5, a.Iou(new DetectionBox(1, 0, 0, 10, 5)), 12);
        Assert.Equal(25.0 / 175.0, a.Iou(new DetectionBox(1, 5, 5, 10, 10)), 12);
        Assert.Equal(0, a.Iou(new DetectionBox(1, 10, 0, 10, 10)));
    }
}
