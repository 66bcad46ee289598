using MtkdRl.Core;
using MtkdRl.Data.Datasets;
using MtkdRl.Teachers;
using MtkdRl.Tests.Cli;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Training;
using MtkdRl.Training;
using static MtkdRl.Tests.ObjectDetection.NmsTests;

namespace MtkdRl.Tests.ObjectDetection;

/// <summary>
/// `eval --flip` on a detector: the mirrored view's boxes come back mirrored (x to width - x - w) and the two views
/// merge by class-wise NMS, cut to the maximum per image; on real scenes, the flip test's detections are exactly
/// that merge of the plain run and of the plain run on the mirrored images.
/// </summary>
public class DetectorFlipTestTests
{
    [Fact]
    public void The_mirrored_view_is_mirrored_back_and_merged_by_class_wise_nms()
    {
        var plain = new[] { D(1, 2, 3, 10, 12, 0.9), D(2, 20, 5, 8, 8, 0.4) };
        // On a 40-wide canvas the first comes back at x = 40 - 28 - 10 = 2: the plain box, lower scored, suppressed.
        // The second comes back at x = 40 - 3 - 6 = 31, overlapping nothing of its class, and is kept.
        var mirrored = new[] { D(1, 28, 3, 10, 12, 0.8), D(2, 3, 30, 6, 6, 0.7) };
        var merged = DetectorInference.MergeViews(plain, mirrored, 40, new DecodeOptions());
        Assert.Equal([D(1, 2, 3, 10, 12, 0.9), D(2, 31, 30, 6, 6, 0.7), D(2, 20, 5, 8, 8, 0.4)], merged);
        Assert.Equal([D(1, 2, 3, 10, 12, 0.9)], DetectorInference.MergeViews(plain, mirrored, 40, new DecodeOptions { MaxDetections = 1 }));
        // Among equal scores the plain view's box comes first and suppresses the mirrored one.
        var tied = DetectorInference.MergeViews([D(1, 2, 3, 10, 12, 0.5)], [D(1, 28.5, 3, 10, 12, 0.5)], 40, new DecodeOptions());
        Assert.Equal([D(1, 2, 3, 10, 12, 0.5)], tied);
    }

    [Fact]
    public void On_scenes_the_flip_test_merges_the_plain_run_with_the_run_on_mirrored_images()
    {
        using var temp = new TempFolder();
        string dir = Path.Combine(temp.Root, "scenes");
        CliRun.AssertOk(CliRun.Run("data", "scenes", "--from", Path.Combine(RepositoryPaths.Root, DatasetLocator.CommittedSlice), "--out", dir,
            "--canvas", "40", "--train", "8", "--test", "6", "--seed", "4"));
        var scenes = DetectionScenes.Load(dir);
        var detector = ModelSpec.Parse("det:4x8x8").BuildDetector(scenes.InputShape, scenes.ClassCount, TrainingTestCompute.Shared, new Rng(7));
        float[] mean = [0.2f], std = [0.3f];
        int S = scenes.Canvas;
        var images = scenes.Test.Images.ToArray();
        for (int row = 0; row < images.Length / S; row++) Array.Reverse(images, row * S, S);
        var mirroredSplit = scenes.Test with { Images = images };

        var flip = DetectorInference.Run(detector, scenes, scenes.Test, mean, std, flip: true).Detections;
        var plain = DetectorInference.Run(detector, scenes, scenes.Test, mean, std).Detections;
        var ofMirrored = DetectorInference.Run(detector, scenes, mirroredSplit, mean, std).Detections;
        List<Detection> Of(IReadOnlyList<MtkdRl.Core.Formats.CocoDetection> all, int image) =>
            [.. all.Where(d => d.ImageId == image).Select(d => D((int)d.CategoryId, d.Bbox[0], d.Bbox[1], d.Bbox[2], d.Bbox[3], d.Score))];
        Assert.NotEmpty(plain);
        bool differs = false;
        for (int image = 1; image <= scenes.Test.Count; image++)
        {
            var want = DetectorInference.MergeViews(Of(plain, image), Of(ofMirrored, image), S, new DecodeOptions());
            var got = Of(flip, image);
            Assert.Equal(want.Count, got.Count);
            foreach (var (w, g) in want.Zip(got))
            {
                Assert.Equal(w.Box.Category, g.Box.Category);
                Assert.Equal(w.Score, g.Score, 6);
                Assert.Equal([w.Box.X, w.Box.Y, w.Box.W, w.Box.H], [g.Box.X, g.Box.Y, g.Box.W, g.Box.H], (a, b) => Math.Abs(a - b) <= 2e-3);
            }
            differs |= !got.SequenceEqual(Of(plain, image));
        }
        Assert.True(differs, "the flip test changed no image's detections");
    }
}
