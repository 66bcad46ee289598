namespace MtkdRl.Training;

/// <summary>
/// Which object, if any, each output location of one image learns (docs/DETECTION.md): a location whose centre
/// lies inside a box and within <see cref="Radius"/> strides of the box's centre on both axes is a candidate
/// for it; of several candidates' boxes the smallest (then the first listed) wins. An object that no location
/// took gets the location under its centre, if that one is still free. Every other location is background.
/// </summary>
public static class LocationAssignment
{
    /// <summary>The centre region's half side, in strides.</summary>
    public const double Radius = 1.5;

    /// <summary>Per location y * gridWidth + x: the index of its object in <paramref name="boxes"/>, or -1 (background).</summary>
    public static int[] Assign(IReadOnlyList<DetectionBox> boxes, int gridWidth, int gridHeight, int stride)
    {
        var owner = new int[gridWidth * gridHeight];
        Array.Fill(owner, -1);
        var taken = new bool[boxes.Count];
        double reach = Radius * stride;
        for (int y = 0; y < gridHeight; y++)
        {
            double py = BoxCoding.CenterOf(y, stride);
            for (int x = 0; x < gridWidth; x++)
            {
                double px = BoxCoding.CenterOf(x, stride);
                int best = -1;
                for (int i = 0; i < boxes.Count; i++)
                {
                    var b = boxes[i];
                    bool inside = px >= b.X && px < b.X + b.W && py >= b.Y && py < b.Y + b.H;
                    bool central = Math.Abs(px - b.CenterX) <= reach && Math.Abs(py - b.CenterY) <= reach;
                    if (inside && central && (best < 0 || b.Area < boxes[best].Area)) best = i;
                }
                owner[y * gridWidth + x] = best;
                if (best >= 0) taken[best] = true;
            }
        }
        for (int i = 0; i < boxes.Count; i++)
        {
            if (taken[i]) continue;
            int x = Math.Clamp((int)Math.Floor(boxes[i].CenterX / stride), 0, gridWidth - 1);
            int y = Math.Clamp((int)Math.Floor(boxes[i].CenterY / stride), 0, gridHeight - 1);
            if (owner[y * gridWidth + x] < 0) owner[y * gridWidth + x] = i;
        }
        return owner;
    }

    /// <summary>
    /// The training targets of one image into its rows: <paramref name="labels"/>[l] = 0 (background) or the
    /// category 1..C of the object location l learns, and that object's <see cref="BoxCoding"/> targets in
    /// <paramref name="boxTargets"/>[l * 4 ..] (zeros for background). Returns the number of positive locations.
    /// </summary>
    public static int Targets(IReadOnlyList<DetectionBox> boxes, int gridWidth, int gridHeight, int stride, Span<int> labels, Span<float> boxTargets)
    {
        var owner = Assign(boxes, gridWidth, gridHeight, stride);
        boxTargets[..(owner.Length * BoxCoding.Outputs)].Clear();
        int positives = 0;
        for (int l = 0; l < owner.Length; l++)
        {
            if (owner[l] < 0) { labels[l] = 0; continue; }
            var b = boxes[owner[l]];
            labels[l] = b.Category;
            BoxCoding.Encode(b, l % gridWidth, l / gridWidth, stride, boxTargets.Slice(l * BoxCoding.Outputs, BoxCoding.Outputs));
            positives++;
        }
        return positives;
    }
}
