using MtkdRl.Core;
using MtkdRl.Data.Scenes;
using MtkdRl.Teachers;
using MtkdRl.Tests.Training;
using MtkdRl.Training;

namespace MtkdRl.Tests.Teachers;

/// <summary>
/// `eval --flip` and `--masks`: the flip test averages the logits of a canvas and of its mirror image mirrored
/// back, so it is exactly equivariant to mirroring (the mirrored split's decisions are the mirrored decisions),
/// which a missing or doubled mirror breaks; the decisions written out are the ones scored.
/// </summary>
public class SegmentationFlipTestTests
{
    private const int Canvas = 16, Count = 7, Classes = 4;

    private static SceneSplit RandomSplit(int seed)
    {
        var rng = new Random(seed);
        var images = new byte[Count * Canvas * Canvas];
        var masks = new byte[Count * Canvas * Canvas];
        rng.NextBytes(images);
        for (int i = 0; i < masks.Length; i++) masks[i] = rng.Next(10) == 0 ? (byte)255 : (byte)rng.Next(Classes);
        return new SceneSplit(Count, 1, Canvas, images, masks, Enumerable.Range(0, Count).Select(_ => (IReadOnlyList<SceneBox>)[]).ToArray());
    }

    private static byte[] Mirrored(byte[] planes)
    {
        var m = new byte[planes.Length];
        for (int row = 0; row < planes.Length / Canvas; row++)
            for (int col = 0; col < Canvas; col++) m[row * Canvas + col] = planes[row * Canvas + Canvas - 1 - col];
        return m;
    }

    private static SegmentationModel Network() =>
        ModelSpec.Parse("unet:4x8").BuildSegmentation(SampleShape.Image(1, Canvas, Canvas), Classes, TrainingTestCompute.Shared, new Rng(3));

    [Fact]
    public void The_flip_test_is_equivariant_to_mirroring_and_differs_from_the_plain_test()
    {
        var split = RandomSplit(1);
        var mirroredSplit = split with { Images = Mirrored(split.Images), Masks = Mirrored(split.Masks) };
        var model = Network();
        var norm = SceneInputs.Normalization(split);
        var plain = new byte[Count * Canvas * Canvas];
        var flipped = new byte[plain.Length];
        var ofMirrored = new byte[plain.Length];
        SegmentationEvaluator.Evaluate(model, split, norm, batch: 3, predictions: plain);
        var m = SegmentationEvaluator.Evaluate(model, split, norm, batch: 3, flip: true, predictions: flipped);
        var mm = SegmentationEvaluator.Evaluate(model, mirroredSplit, norm, batch: 3, flip: true, predictions: ofMirrored);

        Assert.Equal(Mirrored(flipped), ofMirrored);
        Assert.Equal(m.MeanIoU, mm.MeanIoU);
        Assert.NotEqual(plain, flipped); // an untrained network is far from mirror-symmetric
    }

    [Fact]
    public void The_decisions_written_are_the_ones_scored()
    {
        var split = RandomSplit(2);
        var model = Network();
        var norm = SceneInputs.Normalization(split);
        foreach (bool flip in new[] { false, true })
        {
            var predicted = new byte[Count * Canvas * Canvas];
            var metrics = SegmentationEvaluator.Evaluate(model, split, norm, batch: 4, flip: flip, predictions: predicted);
            var matrix = new MtkdRl.Reports.Metrics.ConfusionMatrix(Classes);
            matrix.Add(predicted, split.Masks, "test");
            Assert.Equal(metrics.MeanIoU, MtkdRl.Reports.Metrics.SegmentationMetrics.Of(matrix).MeanIoU);
        }
        // Without flip, the decisions are the network's own argmax, batch by batch.
        var all = new byte[Count * Canvas * Canvas];
        SegmentationEvaluator.Evaluate(model, split, norm, batch: 4, predictions: all);
        var x = new float[Count * Canvas * Canvas];
        SceneInputs.Fill(split, norm, Enumerable.Range(0, Count).ToArray(), x, new byte[Count * Canvas * Canvas]);
        model.Forward(x, Count, training: false);
        var own = new byte[all.Length];
        model.Predict(own);
        Assert.Equal(own, all);
    }

    [Fact]
    public void Mirrored_maps_are_mirrored_back_and_averaged()
    {
        float[] sum = [1, 2, 3, 4, 5, 6, 7, 8], mirrored = [10, 20, 30, 40, 50, 60, 70, 80];
        FlipTestTeacher.AddMirrored(mirrored, sum, count: 8, width: 2);
        Assert.Equal(new float[] { 10.5f, 6f, 21.5f, 17f, 32.5f, 28f, 43.5f, 39f }, sum);
    }
}
