using MtkdRl.Core;
using MtkdRl.Data.Datasets;

namespace MtkdRl.Data.Scenes;

/// <summary>N canvases of one split: pixels [N, Ch, S, S], masks [N, S, S], and each canvas's boxes.</summary>
public sealed record SceneSplit(int Count, int Channels, int Canvas, byte[] Images, byte[] Masks, IReadOnlyList<IReadOnlyList<SceneBox>> Boxes)
{
    /// <summary>Composes <paramref name="count"/> canvases from <paramref name="source"/>, drawing from <paramref name="rng"/>.</summary>
    public static SceneSplit Compose(LabeledImages source, SceneOptions options, int count, Rng rng)
    {
        long area = (long)options.Canvas * options.Canvas;
        long bytes = count * source.Channels * area;
        if (bytes > Array.MaxLength)
            throw new MtkdInputException($"{count} canvases of {source.Channels}x{options.Canvas}x{options.Canvas} need {bytes} bytes, more than one array holds ({Array.MaxLength}); ask for fewer");
        var composer = new SceneComposer(source, options);
        var images = new byte[bytes];
        var masks = new byte[count * area];
        var boxes = new IReadOnlyList<SceneBox>[count];
        for (int i = 0; i < count; i++)
        {
            var scene = composer.Next(rng);
            scene.Pixels.CopyTo(images, i * scene.Pixels.LongLength);
            scene.Mask.CopyTo(masks, i * area);
            boxes[i] = scene.Boxes;
        }
        return new SceneSplit(count, source.Channels, options.Canvas, images, masks, boxes);
    }

    public ReadOnlySpan<byte> Image(int index) => Images.AsSpan(index * Channels * Canvas * Canvas, Channels * Canvas * Canvas);

    public ReadOnlySpan<byte> Mask(int index) => Masks.AsSpan(index * Canvas * Canvas, Canvas * Canvas);
}
