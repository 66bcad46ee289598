namespace MtkdRl.Data.Scenes;

/// <summary>
/// Paints placed objects onto a canvas in z-order and labels every pixel. An object's intensity at a pixel is
/// the largest of its channels there, compared with its own brightest pixel M: at or above high x M the pixel is
/// clearly foreground, from low x M up to that it is faint, below low x M the object is transparent there. Each
/// pixel belongs to the topmost object that is not transparent there; it is labelled with that object's class
/// (1..C) when clearly foreground, 255 when faint, and 0 when no object covers it. An object left with too few
/// visible foreground pixels is dropped: its visible foreground becomes 255 and it gets no box.
/// </summary>
public static class SceneRenderer
{
    public const byte Background = 0;
    public const byte Ignore = 255;

    private const int NoOwner = -1;

    public static SceneCanvas Render(IReadOnlyList<SceneObject> objects, int canvas, int channels, SceneOptions options)
    {
        int area = canvas * canvas;
        var pixels = new byte[channels * area];
        var owner = new int[area];
        var strong = new bool[area];
        Array.Fill(owner, NoOwner);
        var ownForeground = new int[objects.Count];

        for (int k = 0; k < objects.Count; k++)
        {
            var o = objects[k];
            var intensity = Intensity(o, channels);
            int max = 0;
            foreach (byte v in intensity) max = Math.Max(max, v);
            if (max == 0) continue; // a blank image: transparent everywhere, never kept
            double high = options.HighThreshold * max, low = options.LowThreshold * max;
            for (int y = 0; y < o.Height; y++)
            {
                for (int x = 0; x < o.Width; x++)
                {
                    byte v = intensity[y * o.Width + x];
                    if (v < low) continue;
                    int at = (o.Y + y) * canvas + o.X + x;
                    owner[at] = k;
                    strong[at] = v >= high;
                    if (strong[at]) ownForeground[k]++;
                    for (int c = 0; c < channels; c++)
                        pixels[c * area + at] = o.Pixels[(c * o.Height + y) * o.Width + x];
                }
            }
        }

        var visible = new int[objects.Count];
        for (int at = 0; at < area; at++)
            if (owner[at] != NoOwner && strong[at]) visible[owner[at]]++;
        var kept = new bool[objects.Count];
        for (int k = 0; k < objects.Count; k++)
            kept[k] = ownForeground[k] > 0 && visible[k] >= options.MinVisiblePixels
                && visible[k] >= options.MinVisibleFraction * ownForeground[k];

        var mask = new byte[area];
        for (int at = 0; at < area; at++)
        {
            int k = owner[at];
            mask[at] = k == NoOwner ? Background
                : strong[at] && kept[k] ? (byte)(objects[k].ClassIndex + 1)
                : Ignore;
        }
        return new SceneCanvas(pixels, mask, Boxes(objects, kept, owner, strong, canvas), kept);
    }

    /// <summary>The largest channel at each pixel of the object, [Height, Width].</summary>
    private static byte[] Intensity(SceneObject o, int channels)
    {
        int plane = o.Height * o.Width;
        var intensity = new byte[plane];
        for (int c = 0; c < channels; c++)
            for (int i = 0; i < plane; i++)
                intensity[i] = Math.Max(intensity[i], o.Pixels[c * plane + i]);
        return intensity;
    }

    /// <summary>The extent and count of each kept object's visible foreground, in z-order.</summary>
    private static List<SceneBox> Boxes(IReadOnlyList<SceneObject> objects, bool[] kept, int[] owner, bool[] strong, int canvas)
    {
        int n = objects.Count;
        var minX = new int[n]; var minY = new int[n]; var maxX = new int[n]; var maxY = new int[n]; var count = new int[n];
        Array.Fill(minX, int.MaxValue); Array.Fill(minY, int.MaxValue); Array.Fill(maxX, -1); Array.Fill(maxY, -1);
        for (int y = 0; y < canvas; y++)
        {
            for (int x = 0; x < canvas; x++)
            {
                int at = y * canvas + x, k = owner[at];
                if (k == NoOwner || !strong[at]) continue;
                count[k]++;
                minX[k] = Math.Min(minX[k], x); maxX[k] = Math.Max(maxX[k], x);
                minY[k] = Math.Min(minY[k], y); maxY[k] = Math.Max(maxY[k], y);
            }
        }
        var boxes = new List<SceneBox>();
        for (int k = 0; k < n; k++)
            if (kept[k])
                boxes.Add(new SceneBox(objects[k].ClassIndex, minX[k], minY[k], maxX[k] - minX[k] + 1, maxY[k] - minY[k] + 1, count[k]));
        return boxes;
    }
}
