namespace MtkdRl.Training;

/// <summary>How detections are read from a detector's outputs (docs/DETECTION.md).</summary>
public sealed record DecodeOptions
{
    /// <summary>A (location, class) pair is a candidate when its softmax probability exceeds this.</summary>
    public double ScoreThreshold { get; init; } = 0.05;

    /// <summary>Candidates kept per image before NMS, the highest scores.</summary>
    public int TopK { get; init; } = 1000;

    /// <summary>A box is suppressed by a higher-scored one of its class that overlaps it by more than this IoU.</summary>
    public double NmsIou { get; init; } = 0.5;

    /// <summary>Detections kept per image after NMS.</summary>
    public int MaxDetections { get; init; } = 100;
}

/// <summary>
/// One image's detections from its L location rows: every (location, class c >= 1) with softmax probability
/// p_c above the threshold is a candidate scored p_c; the top k by score (ties: earlier location, then lower
/// class) are decoded (<see cref="BoxCoding"/>) and clipped to the canvas, class-wise NMS removes overlaps,
/// and the best <see cref="DecodeOptions.MaxDetections"/> are returned, highest score first.
/// </summary>
public static class DetectionDecoder
{
    public static List<Detection> Decode(ReadOnlySpan<float> classLogits, ReadOnlySpan<float> boxOutputs, int columns, int gridWidth,
        int gridHeight, int stride, DecodeOptions options)
    {
        int L = gridWidth * gridHeight;
        var candidates = new List<(double Score, int Location, int Category)>();
        var p = new double[columns];
        for (int l = 0; l < L; l++)
        {
            var z = classLogits.Slice(l * columns, columns);
            double max = double.NegativeInfinity, sum = 0;
            for (int c = 0; c < columns; c++) max = Math.Max(max, z[c]);
            for (int c = 0; c < columns; c++) sum += p[c] = Math.Exp(z[c] - max);
            for (int c = 1; c < columns; c++)
            {
                double score = p[c] / sum;
                if (score > options.ScoreThreshold) candidates.Add((score, l, c));
            }
        }
        // A stable sort keeps the location-then-class order among equal scores.
        var ranked = candidates.OrderByDescending(c => c.Score).Take(options.TopK);
        var decoded = new List<Detection>();
        foreach (var (score, l, c) in ranked)
        {
            var box = BoxCoding.Decode(boxOutputs.Slice(l * BoxCoding.Outputs, BoxCoding.Outputs), l % gridWidth, l / gridWidth, stride, c);
            decoded.Add(new Detection(BoxCoding.Clip(box, gridWidth * stride, gridHeight * stride), score));
        }
        var kept = Nms.ClassWise(decoded, options.NmsIou);
        return kept.Count > options.MaxDetections ? kept.GetRange(0, options.MaxDetections) : kept;
    }
}
