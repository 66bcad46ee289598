using MtkdRl.Data.Scenes;

namespace MtkdRl.Tests.Scenes;

/// <summary>
/// What the generator should produce for placed objects, worked out pixel by pixel from the definitions in
/// docs/SCENES.md: the owner of a pixel is the last object in z-order whose intensity there reaches low x its
/// maximum; its label follows from the owner's strength there and whether the owner is kept.
/// </summary>
public sealed class SceneOracle
{
    public SceneOracle(IReadOnlyList<SceneObject> objects, int canvas, SceneOptions options)
    {
        Canvas = canvas;
        Owner = new int[canvas, canvas];
        Strong = new bool[canvas, canvas];
        var maxima = objects.Select(o => (double)o.Pixels.Max()).ToArray();
        for (int y = 0; y < canvas; y++)
        {
            for (int x = 0; x < canvas; x++)
            {
                Owner[y, x] = -1;
                for (int k = objects.Count - 1; k >= 0; k--)
                {
                    var o = objects[k];
                    if (y < o.Y || y >= o.Y + o.Height || x < o.X || x >= o.X + o.Width) continue;
                    double v = o.Pixels[(y - o.Y) * o.Width + x - o.X];
                    if (maxima[k] == 0 || v < options.LowThreshold * maxima[k]) continue;
                    Owner[y, x] = k;
                    Strong[y, x] = v >= options.HighThreshold * maxima[k];
                    break;
                }
            }
        }
        Kept = new bool[objects.Count];
        for (int k = 0; k < objects.Count; k++)
        {
            var o = objects[k];
            int own = o.Pixels.Take(o.Height * o.Width).Count(v => v >= options.HighThreshold * maxima[k]);
            int visible = VisibleOf(k).Count;
            Kept[k] = own > 0 && visible >= options.MinVisiblePixels && visible >= options.MinVisibleFraction * own;
        }
        Mask = new byte[canvas * canvas];
        for (int y = 0; y < canvas; y++)
            for (int x = 0; x < canvas; x++)
            {
                int k = Owner[y, x];
                Mask[y * canvas + x] = k < 0 ? (byte)0 : Strong[y, x] && Kept[k] ? (byte)(objects[k].ClassIndex + 1) : (byte)255;
            }
    }

    public int Canvas { get; }
    public int[,] Owner { get; }
    public bool[,] Strong { get; }
    public bool[] Kept { get; }
    public byte[] Mask { get; }

    /// <summary>The visible foreground pixels (x, y) of object k.</summary>
    public List<(int X, int Y)> VisibleOf(int k)
    {
        var cells = new List<(int, int)>();
        for (int y = 0; y < Canvas; y++)
            for (int x = 0; x < Canvas; x++)
                if (Owner[y, x] == k && Strong[y, x]) cells.Add((x, y));
        return cells;
    }
}
