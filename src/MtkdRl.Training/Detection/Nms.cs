namespace MtkdRl.Training;

/// <summary>Greedy non-maximum suppression within each class.</summary>
public static class Nms
{
    /// <summary>
    /// Keeps, in order of falling score (a stable sort: equal scores keep their input order), each detection whose
    /// IoU with every detection of its category kept before it is at most <paramref name="iou"/>. Detections of
    /// different categories never suppress each other.
    /// </summary>
    public static List<Detection> ClassWise(IReadOnlyList<Detection> detections, double iou)
    {
        var kept = new List<Detection>();
        foreach (var d in detections.OrderByDescending(d => d.Score))
        {
            bool suppressed = false;
            foreach (var k in kept)
            {
                if (k.Box.Category == d.Box.Category && k.Box.Iou(d.Box) > iou) { suppressed = true; break; }
            }
            if (!suppressed) kept.Add(d);
        }
        return kept;
    }
}
