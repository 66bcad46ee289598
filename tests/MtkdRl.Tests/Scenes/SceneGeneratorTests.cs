using MtkdRl.Core;
using MtkdRl.Data.Scenes;

namespace MtkdRl.Tests.Scenes;

/// <summary>The scenes generator's labels, ignore band, dropped objects, boxes and splits, against <see cref="SceneOracle"/> and hand-made scenes.</summary>
public class SceneGeneratorTests
{
    private static readonly SceneOptions Unscaled = new() { Canvas = 24, MinObjects = 1, MaxObjects = 4, MinScale = 1, MaxScale = 1 };

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Labels_images_and_boxes_follow_the_definitions_on_random_canvases(int channels)
    {
        var source = SceneSources.Rings3(channels: channels).Train;
        var composer = new SceneComposer(source, Unscaled);
        var rng = new Rng(7);
        int dropped = 0, ignored = 0, labelled = 0, kept = 0;
        for (int n = 0; n < 60; n++)
        {
            var objects = composer.Place(rng);
            foreach (var o in objects) Assert.Equal(source.Image(o.SourceRow).ToArray(), o.Pixels); // scale 1: the source itself
            var scene = SceneRenderer.Render(objects, Unscaled.Canvas, channels, Unscaled);
            var oracle = new SceneOracle(objects, Unscaled.Canvas, Unscaled);

            Assert.Equal(oracle.Mask, scene.Mask);
            Assert.Equal(oracle.Kept, scene.Kept);
            int area = Unscaled.Canvas * Unscaled.Canvas;
            for (int y = 0; y < Unscaled.Canvas; y++)
                for (int x = 0; x < Unscaled.Canvas; x++)
                {
                    int k = oracle.Owner[y, x];
                    for (int c = 0; c < channels; c++)
                    {
                        byte expected = k < 0 ? (byte)0 : objects[k].Pixels[(c * objects[k].Height + y - objects[k].Y) * objects[k].Width + x - objects[k].X];
                        Assert.Equal(expected, scene.Pixels[c * area + y * Unscaled.Canvas + x]);
                    }
                }

            var boxes = new List<SceneBox>();
            for (int k = 0; k < objects.Count; k++)
            {
                if (!oracle.Kept[k]) { dropped++; continue; }
                var cells = oracle.VisibleOf(k);
                int x0 = cells.Min(c => c.X), y0 = cells.Min(c => c.Y);
                boxes.Add(new SceneBox(objects[k].ClassIndex, x0, y0, cells.Max(c => c.X) - x0 + 1, cells.Max(c => c.Y) - y0 + 1, cells.Count));
            }
            Assert.Equal(boxes, scene.Boxes);
            kept += boxes.Count;
            ignored += scene.Mask.Count(v => v == 255);
            labelled += scene.Mask.Count(v => v is > 0 and < 255);
        }
        // The canvases exercised every case.
        Assert.True(dropped > 0 && kept > 0 && ignored > 0 && labelled > 0, $"dropped {dropped}, kept {kept}, ignored {ignored}, labelled {labelled}");
    }

    [Fact]
    public void One_object_shows_its_rings_as_class_ignore_band_and_background()
    {
        var source = SceneSources.Rings3().Train;
        var o = new SceneObject(1, 0, 3, 5, SceneSources.Side, SceneSources.Side, source.Image(0).ToArray());
        var scene = SceneRenderer.Render([o], 20, 1, Unscaled);
        for (int y = 0; y < 20; y++)
            for (int x = 0; x < 20; x++)
            {
                bool inside = x >= 3 && x < 13 && y >= 5 && y < 15;
                int ring = inside ? SceneSources.Ring(y - 5, x - 3) : -1;
                byte expected = ring switch { 0 or 1 or 2 => 2, 3 => 255, _ => 0 }; // ring 4 (20 of 255) is transparent
                Assert.Equal(expected, scene.Mask[y * 20 + x]);
            }
        // Rings 0..2 span the central 6x6 pixels: x 5..10, y 7..12.
        Assert.Equal([new SceneBox(1, 5, 7, 6, 6, 36)], scene.Boxes);
    }

    [Fact]
    public void An_object_left_with_too_few_visible_pixels_is_dropped_and_its_visible_foreground_ignored()
    {
        var solid = Enumerable.Repeat((byte)200, 100).ToArray();
        var below = new SceneObject(0, 0, 0, 0, 10, 10, solid);
        var above = new SceneObject(1, 1, 1, 0, 10, 10, solid); // one pixel to the right: column x = 0 of `below` shows
        var scene = SceneRenderer.Render([below, above], 12, 1, Unscaled with { MinVisiblePixels = 16 });

        Assert.Equal([false, true], scene.Kept);
        Assert.Equal([new SceneBox(1, 1, 0, 10, 10, 100)], scene.Boxes);
        for (int y = 0; y < 10; y++) Assert.Equal(255, scene.Mask[y * 12]);
        Assert.Equal(2, scene.Mask[1]);
        Assert.Equal(0, scene.Mask[10 * 12]);

        // 10 pixels clear a bar of 4 but not a quarter of its own 100 pixels: still dropped.
        var byFraction = SceneRenderer.Render([below, above], 12, 1, Unscaled with { MinVisiblePixels = 4, MinVisibleFraction = 0.25 });
        Assert.Equal([false, true], byFraction.Kept);

        // With 10 visible pixels enough (and 10 % of its own 100) the same object is kept with a 1x10 box.
        var lenient = SceneRenderer.Render([below, above], 12, 1, Unscaled with { MinVisiblePixels = 10, MinVisibleFraction = 0.1 });
        Assert.Equal([new SceneBox(0, 0, 0, 1, 10, 10), new SceneBox(1, 1, 0, 10, 10, 100)], lenient.Boxes);
        Assert.Equal(1, lenient.Mask[0]);
    }

    [Fact]
    public void Train_canvases_come_from_the_train_split_and_test_canvases_from_the_test_split()
    {
        var data = SceneSources.Rings3();
        var result = SceneGenerator.Compose(data, new SceneOptions { Canvas = 24, TrainCount = 40, TestCount = 40, MinScale = 0.8, MaxScale = 1.6 });
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, result.Train.Masks.Distinct().Order());
        Assert.Equal(new byte[] { 0, 3, 255 }, result.Test.Masks.Distinct().Order());
        Assert.All(result.Train.Boxes.SelectMany(b => b), b => Assert.InRange(b.ClassIndex, 0, 1));
        Assert.All(result.Test.Boxes.SelectMany(b => b), b => Assert.Equal(2, b.ClassIndex));
        Assert.Contains(result.Train.Boxes, b => b.Count > 1);
    }

    [Fact]
    public void Scaled_objects_fit_the_canvas_and_boxes_match_the_mask()
    {
        var data = SceneSources.Rings3();
        var options = new SceneOptions { Canvas = 28, MinScale = 0.6, MaxScale = 2.8, MinObjects = 1, MaxObjects = 1, TrainCount = 30, TestCount = 1 };
        var result = SceneGenerator.Compose(data, options);
        for (int i = 0; i < result.Train.Count; i++)
        {
            // One object per canvas: its box is the extent of the labelled pixels.
            var mask = result.Train.Mask(i).ToArray();
            var cells = Enumerable.Range(0, mask.Length).Where(p => mask[p] is > 0 and < 255).Select(p => (X: p % 28, Y: p / 28)).ToList();
            if (cells.Count == 0) { Assert.Empty(result.Train.Boxes[i]); continue; }
            var box = Assert.Single(result.Train.Boxes[i]);
            Assert.Equal((cells.Min(c => c.X), cells.Min(c => c.Y)), (box.X, box.Y));
            Assert.Equal((cells.Max(c => c.X) - box.X + 1, cells.Max(c => c.Y) - box.Y + 1, cells.Count), (box.Width, box.Height, box.Area));
        }
    }
}
