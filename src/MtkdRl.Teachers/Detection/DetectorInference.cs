using MtkdRl.Core.Formats;
using MtkdRl.Reports.Metrics;
using MtkdRl.Training;

namespace MtkdRl.Teachers;

/// <summary>A detector's detections on a split, as COCO results, and their COCO box scores.</summary>
public sealed record DetectionResult(IReadOnlyList<CocoDetection> Detections, CocoSummary Summary);

/// <summary>Runs a detector in eval mode over a split of scenes, decodes every image and scores the results.</summary>
public static class DetectorInference
{
    public const int BatchSize = 64;

    /// <summary>The split's detections (image id = row + 1, category id = class, bbox [x, y, w, h]) and their AP, AP50, AP75, AR100.</summary>
    public static DetectionResult Run(Detector detector, DetectionScenes scenes, DetectionSplit split, float[] mean, float[] std,
        DecodeOptions? options = null)
    {
        options ??= new DecodeOptions();
        if (detector.InputShape != scenes.InputShape || detector.Classes != scenes.ClassCount)
            throw new Core.MtkdInputException(
                $"{scenes.Source}: scenes of {scenes.InputShape} with {scenes.ClassCount} classes do not fit detector {detector.Spec} ({detector.InputShape}, {detector.Classes} classes)");
        int size = detector.InputShape.Size, L = detector.Locations, K = detector.ClassColumns;
        var x = new float[BatchSize * size];
        var detections = new List<CocoDetection>();
        for (int start = 0; start < split.Count; start += BatchSize)
        {
            int n = Math.Min(BatchSize, split.Count - start);
            for (int i = 0; i < n; i++) scenes.Fill(split, start + i, mean, std, flip: false, x.AsSpan(i * size, size));
            detector.Forward(x.AsSpan(0, n * size), n, training: false);
            for (int i = 0; i < n; i++)
            {
                var found = DetectionDecoder.Decode(detector.ClassLogits.Slice(i * L * K, L * K), detector.BoxOutputs.Slice(i * L * BoxCoding.Outputs, L * BoxCoding.Outputs),
                    K, detector.GridWidth, detector.GridHeight, detector.Stride, options);
                foreach (var d in found)
                    detections.Add(new CocoDetection(start + i + 1, d.Box.Category,
                        [Math.Round(d.Box.X, 3), Math.Round(d.Box.Y, 3), Math.Round(d.Box.W, 3), Math.Round(d.Box.H, 3)], Math.Round(d.Score, 6)));
            }
        }
        return new DetectionResult(detections, CocoBoxEvaluation.Summarise(split.Instances, detections));
    }
}
