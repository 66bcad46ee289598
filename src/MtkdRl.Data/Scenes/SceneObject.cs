namespace MtkdRl.Data.Scenes;

/// <summary>
/// One object placed on a canvas: its resized pixels ([Ch, Height, Width], channels-first), its class in
/// [0, C) of the source dataset, the source row it came from, and its top-left corner on the canvas.
/// </summary>
public sealed record SceneObject(int ClassIndex, int SourceRow, int X, int Y, int Height, int Width, byte[] Pixels);

/// <summary>A kept object's visible foreground: bounding box [X, Y, Width, Height] and pixel count.</summary>
public sealed record SceneBox(int ClassIndex, int X, int Y, int Width, int Height, int Area);

/// <summary>
/// A composed canvas: pixels [Ch, S, S], the label mask [S, S] (0 background, 1..C class, 255 ignore), the boxes
/// of the kept objects, and for each placed object (in z-order) whether it was kept.
/// </summary>
public sealed record SceneCanvas(byte[] Pixels, byte[] Mask, IReadOnlyList<SceneBox> Boxes, IReadOnlyList<bool> Kept);
