using MtkdRl.Core;
using MtkdRl.Data.Datasets;

namespace MtkdRl.Data.Scenes;

/// <summary>
/// Draws canvases from one split of a classification dataset: for each canvas a number of objects uniform in
/// [MinObjects, MaxObjects], each a uniformly drawn row of the split, resized to a scale uniform in
/// [MinScale, MaxScale] of its side, at a uniform position where it fits whole; later objects lie on top.
/// </summary>
public sealed class SceneComposer
{
    private readonly LabeledImages _source;
    private readonly SceneOptions _options;

    public SceneComposer(LabeledImages source, SceneOptions options)
    {
        options.Check(source.Height, source.Width);
        _source = source;
        _options = options;
    }

    /// <summary>The objects of the next canvas, placed but not yet painted.</summary>
    public List<SceneObject> Place(Rng rng)
    {
        int count = _options.MinObjects + rng.NextInt(_options.MaxObjects - _options.MinObjects + 1);
        var objects = new List<SceneObject>(count);
        for (int i = 0; i < count; i++)
        {
            int row = rng.NextInt(_source.Count);
            double scale = _options.MinScale + (_options.MaxScale - _options.MinScale) * rng.NextDouble();
            int height = SceneOptions.ScaledSide(_source.Height, scale);
            int width = SceneOptions.ScaledSide(_source.Width, scale);
            int x = rng.NextInt(_options.Canvas - width + 1);
            int y = rng.NextInt(_options.Canvas - height + 1);
            byte[] pixels = ImageResize.Resize(_source.Image(row), _source.Channels, _source.Height, _source.Width, height, width, _options.Interpolation);
            objects.Add(new SceneObject(_source.Labels[row], row, x, y, height, width, pixels));
        }
        return objects;
    }

    public SceneCanvas Next(Rng rng) => SceneRenderer.Render(Place(rng), _options.Canvas, _source.Channels, _options);
}
