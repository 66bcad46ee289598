using MtkdRl.Core.Formats;
using MtkdRl.Reports.Metrics;
using MtkdRl.Training;

namespace MtkdRl.Teachers;

/// <summary>A detector's detections on a split, as COCO results, and their COCO box scores.</summary>
public sealed record DetectionResult(IReadOnlyList<CocoDetection> Detections, CocoSummary Summary);

/// <summary>
/// Runs a detector in eval mode over a split of scenes, decodes every image and scores the results. With
/// <c>flip</c> (the flip test of detection toolkits): each image also goes through the detector mirrored
/// left-right, that view's boxes are mirrored back, and the two views' detections are merged by class-wise NMS at
/// the decoding's IoU and cut to its maximum per image (<see cref="MergeViews"/>).
/// </summary>
public static class DetectorInference
{
    public const int BatchSize = 64;

    /// <summary>The split's detections (image id = row + 1, category id = class, bbox [x, y, w, h]) and their AP, AP50, AP75, AR100.</summary>
    public static DetectionResult Run(IDetectionNetwork detector, DetectionScenes scenes, DetectionSplit split, float[] mean, float[] std,
        DecodeOptions? options = null, bool flip = false)
    {
        options ??= new DecodeOptions();
        if (detector.InputShape != scenes.InputShape || detector.Classes != scenes.ClassCount)
            throw new Core.MtkdInputException(
                $"{scenes.Source}: scenes of {scenes.InputShape} with {scenes.ClassCount} classes do not fit detector {detector.Description} ({detector.InputShape}, {detector.Classes} classes)");
        int size = detector.InputShape.Size, width = detector.InputShape.Width;
        var x = new float[BatchSize * size];
        var detections = new List<CocoDetection>();
        for (int start = 0; start < split.Count; start += BatchSize)
        {
            int n = Math.Min(BatchSize, split.Count - start);
            var found = DecodeBatch(detector, scenes, split, start, n, mean, std, mirrored: false, options, x);
            if (flip)
            {
                var mirrored = DecodeBatch(detector, scenes, split, start, n, mean, std, mirrored: true, options, x);
                for (int i = 0; i < n; i++) found[i] = MergeViews(found[i], mirrored[i], width, options);
            }
            for (int i = 0; i < n; i++)
                foreach (var d in found[i])
                    detections.Add(new CocoDetection(start + i + 1, d.Box.Category,
                        [Math.Round(d.Box.X, 3), Math.Round(d.Box.Y, 3), Math.Round(d.Box.W, 3), Math.Round(d.Box.H, 3)], Math.Round(d.Score, 6)));
        }
        return new DetectionResult(detections, CocoBoxEvaluation.Summarise(split.Instances, detections));
    }

    /// <summary>
    /// One image's detections from its two views: the mirrored view's boxes mirrored back on a canvas of
    /// <paramref name="width"/> (x becomes width - x - w), both lists together through class-wise NMS (the plain view
    /// first among equal scores), the best <see cref="DecodeOptions.MaxDetections"/> kept, highest score first.
    /// </summary>
    public static List<Detection> MergeViews(IReadOnlyList<Detection> plain, IReadOnlyList<Detection> mirrored, int width, DecodeOptions options)
    {
        var both = new List<Detection>(plain.Count + mirrored.Count);
        both.AddRange(plain);
        foreach (var d in mirrored) both.Add(d with { Box = d.Box with { X = width - d.Box.X - d.Box.W } });
        var kept = Nms.ClassWise(both, options.NmsIou);
        return kept.Count > options.MaxDetections ? kept.GetRange(0, options.MaxDetections) : kept;
    }

    private static List<Detection>[] DecodeBatch(IDetectionNetwork detector, DetectionScenes scenes, DetectionSplit split, int start, int n, float[] mean,
        float[] std, bool mirrored, DecodeOptions options, float[] x)
    {
        int size = detector.InputShape.Size, L = detector.Locations, K = detector.ClassColumns;
        for (int i = 0; i < n; i++) scenes.Fill(split, start + i, mean, std, flip: mirrored, x.AsSpan(i * size, size));
        detector.Infer(x.AsSpan(0, n * size), n);
        var found = new List<Detection>[n];
        for (int i = 0; i < n; i++)
            found[i] = DetectionDecoder.Decode(detector.ClassLogits.Slice(i * L * K, L * K), detector.BoxOutputs.Slice(i * L * BoxCoding.Outputs, L * BoxCoding.Outputs),
                K, detector.GridWidth, detector.GridHeight, detector.Stride, options);
        return found;
    }
}
