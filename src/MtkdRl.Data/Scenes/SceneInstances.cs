using MtkdRl.Core.Formats;

namespace MtkdRl.Data.Scenes;

/// <summary>The COCO instances file (instances_SPLIT.json) of one split of scenes.</summary>
public static class SceneInstances
{
    /// <summary>
    /// Image ids are 1..N (row i of SPLIT/images.npy is id i + 1, its file_name "SPLIT/images.npy#i"); annotation
    /// ids count from 1 over the split; category ids are 1..C, the mask's values.
    /// </summary>
    public static CocoInstances Of(string split, SceneSplit scenes, IReadOnlyList<string> classNames)
    {
        var images = new List<CocoImage>(scenes.Count);
        var annotations = new List<CocoAnnotation>();
        for (int i = 0; i < scenes.Count; i++)
        {
            images.Add(new CocoImage(i + 1, $"{split}/images.npy#{i}", scenes.Canvas, scenes.Canvas));
            foreach (var box in scenes.Boxes[i])
                annotations.Add(new CocoAnnotation(annotations.Count + 1, i + 1, box.ClassIndex + 1,
                    [box.X, box.Y, box.Width, box.Height], box.Area, 0));
        }
        var categories = classNames.Select((name, c) => new CocoCategory(c + 1, name)).ToList();
        return new CocoInstances(images, annotations, categories);
    }
}
