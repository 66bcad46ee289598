using MtkdRl.Training;

namespace MtkdRl.Tests.ObjectDetection;

public class DetectionDecoderTests
{
    [Fact]
    public void Scores_are_softmax_probabilities_and_boxes_decode_at_their_location()
    {
        // 2 x 1 grid, stride 8, C = 2: location 0 says class 2, location 1 background.
        float[] logits = [0, 0, (float)Math.Log(8), 5, 0, 0];
        float[] boxes = [0.5f, 0, (float)Math.Log(2), 0, 0, 0, 0, 0];
        var found = DetectionDecoder.Decode(logits, boxes, 3, 2, 1, 8, new DecodeOptions());
        var d = Assert.Single(found, x => x.Score > 0.5);
        Assert.Equal(0.8, d.Score, 7);
        Assert.Equal(new DetectionBox(2, 0, 0, 16, 8), d.Box with { X = Math.Round(d.Box.X, 9), W = Math.Round(d.Box.W, 9), Y = Math.Round(d.Box.Y, 9), H = Math.Round(d.Box.H, 9) });
        Assert.All(found, x => Assert.True(x.Score > 0.05));
    }

    [Fact]
    public void At_most_the_maximum_survive_in_falling_score_order()
    {
        // 12 x 12 locations, C = 3, all classes likely everywhere and boxes far apart: 432 candidates, no overlap.
        int side = 12, C = 3, L = side * side;
        var logits = new float[L * (C + 1)];
        var rng = new Random(3);
        for (int i = 0; i < logits.Length; i++) logits[i] = (float)rng.NextDouble();
        var boxes = new float[L * 4];
        for (int l = 0; l < L; l++) boxes[l * 4 + 2] = boxes[l * 4 + 3] = (float)Math.Log(0.5);
        var all = DetectionDecoder.Decode(logits, boxes, C + 1, side, side, 8, new DecodeOptions { MaxDetections = 1000 });
        Assert.Equal(L * C, all.Count);
        var cut = DetectionDecoder.Decode(logits, boxes, C + 1, side, side, 8, new DecodeOptions());
        Assert.Equal(100, cut.Count);
        Assert.Equal(all.Take(100), cut);
        for (int i = 1; i < cut.Count; i++) Assert.True(cut[i - 1].Score >= cut[i].Score);
    }

    [Fact]
    public void Overlapping_candidates_of_one_class_leave_one_detection()
    {
        // Four neighbouring locations all predicting the same 16 x 16 box of class 1.
        int side = 2;
        var logits = new float[side * side * 2];
        for (int l = 0; l < 4; l++) { logits[l * 2] = 0; logits[l * 2 + 1] = 2 + l * 0.1f; }
        var boxes = new float[16];
        for (int l = 0; l < 4; l++)
        {
            boxes[l * 4] = l % 2 == 0 ? 0.5f : -0.5f;
            boxes[l * 4 + 1] = l / 2 == 0 ? 0.5f : -0.5f;
            boxes[l * 4 + 2] = boxes[l * 4 + 3] = (float)Math.Log(2);
        }
        var found = DetectionDecoder.Decode(logits, boxes, 2, side, side, 8, new DecodeOptions());
        var d = Assert.Single(found);
        Assert.Equal(1 / (1 + Math.Exp(-2.3f)), d.Score, 6);
    }
}
