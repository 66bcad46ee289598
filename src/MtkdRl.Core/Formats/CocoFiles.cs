using System.Text.Json;
using System.Text.Json.Serialization;

namespace MtkdRl.Core.Formats;

// The COCO detection conventions, one set of records for both directions: the instances files the scenes
// generator writes and the evaluation reads (images, annotations with bbox [x,y,w,h], area and iscrowd,
// categories numbered from 1), and the results files detectors write (image_id, category_id, bbox, score).

/// <summary>One image of an instances file.</summary>
public sealed record CocoImage(
    [property: JsonPropertyName("id")] long Id,
    [property: JsonPropertyName("file_name")] string? FileName,
    [property: JsonPropertyName("width")] int Width,
    [property: JsonPropertyName("height")] int Height);

/// <summary>One object of an instances file; <see cref="Bbox"/> is [x, y, w, h] in pixels.</summary>
public sealed record CocoAnnotation(
    [property: JsonPropertyName("id")] long Id,
    [property: JsonPropertyName("image_id")] long ImageId,
    [property: JsonPropertyName("category_id")] long CategoryId,
    [property: JsonPropertyName("bbox")] double[] Bbox,
    [property: JsonPropertyName("area")] double Area,
    [property: JsonPropertyName("iscrowd")] int IsCrowd);

/// <summary>One category: COCO numbers them from 1.</summary>
public sealed record CocoCategory(
    [property: JsonPropertyName("id")] long Id,
    [property: JsonPropertyName("name")] string Name);

/// <summary>One detection of a results file.</summary>
public sealed record CocoDetection(
    [property: JsonPropertyName("image_id")] long ImageId,
    [property: JsonPropertyName("category_id")] long CategoryId,
    [property: JsonPropertyName("bbox")] double[] Bbox,
    [property: JsonPropertyName("score")] double Score);

/// <summary>An instances file (the ground truth of object detection): images, annotations, categories.</summary>
public sealed record CocoInstances(
    [property: JsonPropertyName("images")] IReadOnlyList<CocoImage> Images,
    [property: JsonPropertyName("annotations")] IReadOnlyList<CocoAnnotation> Annotations,
    [property: JsonPropertyName("categories")] IReadOnlyList<CocoCategory> Categories);

/// <summary>
/// Reads and writes the COCO JSON conventions: instances files (images, annotations with bbox [x,y,w,h], area,
/// iscrowd, categories) and results files (a list of image_id, category_id, bbox, score). Every problem is one
/// line naming the file; sizes are checked before a file is read whole.
/// </summary>
public static class CocoFiles
{
    /// <summary>Largest JSON file read (1 GiB): a COCO file past that is not one this tool made or can hold.</summary>
    public const long MaxBytes = 1L << 30;

    private static readonly JsonSerializerOptions Options = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public static CocoInstances ReadInstances(string path)
    {
        using var doc = Parse(path, "COCO instances file");
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw Bad(path, "a COCO instances file is a JSON object with images, annotations and categories");
        var images = List(path, root, "images", e => new CocoImage(Long(path, e, "id"), OptionalString(e, "file_name"),
            (int)OptionalLong(e, "width"), (int)OptionalLong(e, "height")));
        var categories = List(path, root, "categories", e => new CocoCategory(Long(path, e, "id"), OptionalString(e, "name") ?? ""));
        long nextId = 1;
        var annotations = List(path, root, "annotations", e =>
        {
            var box = Box(path, e, "annotation");
            long id = e.TryGetProperty("id", out var idValue) && idValue.ValueKind == JsonValueKind.Number ? idValue.GetInt64() : nextId;
            nextId = id + 1;
            double area = e.TryGetProperty("area", out var a) && a.ValueKind == JsonValueKind.Number ? a.GetDouble() : box[2] * box[3];
            return new CocoAnnotation(id, Long(path, e, "image_id"), Long(path, e, "category_id"), box, area, (int)OptionalLong(e, "iscrowd"));
        });
        var imageIds = images.Select(i => i.Id).ToHashSet();
        if (imageIds.Count != images.Count) throw Bad(path, "an image id appears twice");
        var stray = annotations.FirstOrDefault(a => !imageIds.Contains(a.ImageId));
        if (stray is not null) throw Bad(path, $"annotation {stray.Id} names image {stray.ImageId}, which the file does not list");
        if (categories.Select(c => c.Id).Distinct().Count() != categories.Count) throw Bad(path, "a category id appears twice");
        return new CocoInstances(images, annotations, categories);
    }

    /// <summary>A results file; every detection must name an image of <paramref name="truth"/> (as the reference evaluation requires).</summary>
    public static IReadOnlyList<CocoDetection> ReadDetections(string path, CocoInstances truth)
    {
        using var doc = Parse(path, "COCO results file");
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Array) throw Bad(path, "a COCO results file is a JSON list of {image_id, category_id, bbox, score}");
        var images = truth.Images.Select(i => i.Id).ToHashSet();
        var detections = new List<CocoDetection>(root.GetArrayLength());
        int index = 0;
        foreach (var e in root.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Object) throw Bad(path, $"detection {index} is not an object");
            var d = new CocoDetection(Long(path, e, "image_id"), Long(path, e, "category_id"), Box(path, e, $"detection {index}"), Number(path, e, "score"));
            if (!double.IsFinite(d.Score)) throw Bad(path, $"detection {index} has a score that is not finite");
            if (!images.Contains(d.ImageId)) throw Bad(path, $"detection {index} names image {d.ImageId}, which the ground truth does not hold");
            detections.Add(d);
            index++;
        }
        return detections;
    }

    /// <summary>Writes detections in the results format, atomically.</summary>
    public static void WriteDetections(string path, IEnumerable<CocoDetection> detections) =>
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(detections.ToList(), Options) + "\n");

    /// <summary>Writes an instances file, atomically, on one line.</summary>
    public static void WriteInstances(string path, CocoInstances instances) =>
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(instances, Options) + "\n");

    private static JsonDocument Parse(string path, string what)
    {
        if (!File.Exists(path)) throw new MtkdInputException($"{path}: no such file");
        long length = new FileInfo(path).Length;
        if (length > MaxBytes) throw Bad(path, $"{length} bytes is larger than a {what} this tool reads ({MaxBytes} bytes)");
        try
        {
            using var stream = File.OpenRead(path);
            return JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e) { throw Bad(path, $"not a valid {what} ({JsonErrorText.Describe(e)})"); }
        catch (IOException e) { throw Bad(path, $"cannot read ({e.Message})"); }
    }

    private static List<T> List<T>(string path, JsonElement root, string name, Func<JsonElement, T> read)
    {
        if (!root.TryGetProperty(name, out var array) || array.ValueKind != JsonValueKind.Array)
            throw Bad(path, $"'{name}' is missing or not a list");
        var list = new List<T>(array.GetArrayLength());
        foreach (var e in array.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Object) throw Bad(path, $"an entry of '{name}' is not an object");
            list.Add(read(e));
        }
        return list;
    }

    private static double[] Box(string path, JsonElement e, string who)
    {
        if (!e.TryGetProperty("bbox", out var b) || b.ValueKind != JsonValueKind.Array || b.GetArrayLength() != 4)
            throw Bad(path, $"{who}: bbox must be [x, y, w, h]");
        var box = new double[4];
        int i = 0;
        foreach (var v in b.EnumerateArray())
        {
            if (v.ValueKind != JsonValueKind.Number) throw Bad(path, $"{who}: bbox holds a value that is not a number");
            box[i++] = v.GetDouble();
        }
        if (!box.All(double.IsFinite) || box[2] < 0 || box[3] < 0) throw Bad(path, $"{who}: bbox [{string.Join(", ", box)}] needs finite values and w, h >= 0");
        return box;
    }

    private static long Long(string path, JsonElement e, string name)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long x))
            throw Bad(path, $"an entry lacks an integer '{name}'");
        return x;
    }

    private static double Number(string path, JsonElement e, string name)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Number) throw Bad(path, $"an entry lacks a number '{name}'");
        return v.GetDouble();
    }

    private static long OptionalLong(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long x) ? x : 0;

    private static string? OptionalString(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static MtkdInputException Bad(string path, string problem) => new($"{path}: {problem}");
}
