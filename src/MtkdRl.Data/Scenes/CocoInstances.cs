using System.Text.Json.Serialization;

namespace MtkdRl.Data.Scenes;

/// <summary>The COCO detection annotation file of one split (instances_SPLIT.json), as COCO's tools read it.</summary>
public sealed record CocoInstances(
    [property: JsonPropertyName("images")] IReadOnlyList<CocoImage> Images,
    [property: JsonPropertyName("annotations")] IReadOnlyList<CocoAnnotation> Annotations,
    [property: JsonPropertyName("categories")] IReadOnlyList<CocoCategory> Categories)
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

public sealed record CocoImage(
    [property: JsonPropertyName("id")] int Id,
    [property: JsonPropertyName("file_name")] string FileName,
    [property: JsonPropertyName("width")] int Width,
    [property: JsonPropertyName("height")] int Height);

public sealed record CocoAnnotation(
    [property: JsonPropertyName("id")] int Id,
    [property: JsonPropertyName("image_id")] int ImageId,
    [property: JsonPropertyName("category_id")] int CategoryId,
    [property: JsonPropertyName("bbox")] int[] Bbox,
    [property: JsonPropertyName("area")] int Area,
    [property: JsonPropertyName("iscrowd")] int IsCrowd);

public sealed record CocoCategory(
    [property: JsonPropertyName("id")] int Id,
    [property: JsonPropertyName("name")] string Name);
