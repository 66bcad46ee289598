using System.Text.Json;
using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Data.Formats;

namespace MtkdRl.Data.Scenes;

/// <summary>
/// A scenes folder read back: its descriptor and, per split, images [N, Ch, S, S] and masks [N, S, S]. Every
/// shape and dtype is checked against dataset.json from the NPY headers before any data is allocated, and every
/// mask value against 0..C and 255; a problem is one line naming the file.
/// </summary>
public sealed class SceneDataset
{
    private SceneDataset(string source, SceneDescriptor descriptor, SceneSplit train, SceneSplit test)
    {
        Source = source; Descriptor = descriptor; Train = train; Test = test;
    }

    public string Source { get; }
    public SceneDescriptor Descriptor { get; }
    public SceneSplit Train { get; }
    public SceneSplit Test { get; }

    /// <summary>C, the object classes; masks hold 0..C and 255.</summary>
    public int ClassCount => Descriptor.Classes.Count;

    public static SceneDataset Load(string dir)
    {
        if (!Directory.Exists(dir)) throw new MtkdInputException($"{dir}: no such directory");
        var descriptor = ReadDescriptor(SceneFiles.Descriptor(dir));
        var train = ReadSplit(dir, "train", descriptor.TrainCount, descriptor);
        var test = ReadSplit(dir, "test", descriptor.TestCount, descriptor);
        return new SceneDataset(dir, descriptor, train, test);
    }

    private static SceneDescriptor ReadDescriptor(string path)
    {
        if (!File.Exists(path)) throw new MtkdInputException($"{path}: missing (not a scenes folder; make one with `mtkd data scenes`)");
        long length = new FileInfo(path).Length;
        if (length > 1 << 20) throw new MtkdInputException($"{path}: {length} bytes is too large for a dataset descriptor (at most 1 MiB)");
        SceneDescriptor? d;
        try { d = JsonSerializer.Deserialize<SceneDescriptor>(File.ReadAllText(path), SceneGenerator.Json); }
        catch (JsonException e) { throw new MtkdInputException($"{path}: not a valid scenes descriptor ({JsonErrorText.Describe(e)})"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new MtkdInputException($"{path}: cannot read ({e.Message})"); }
        if (d is null || !d.TaskKinds.Contains("segmentation"))
            throw new MtkdInputException($"{path}: task_kinds does not list segmentation");
        if (d.Classes.Count is < 1 or > 254) throw new MtkdInputException($"{path}: {d.Classes.Count} classes, expected 1..254");
        if (d.Canvas is < 1 or > SceneOptions.MaxCanvas) throw new MtkdInputException($"{path}: canvas {d.Canvas} is outside 1..{SceneOptions.MaxCanvas}");
        if (d.Channels is < 1 or > 4) throw new MtkdInputException($"{path}: channels {d.Channels} is outside 1..4");
        if (d.TrainCount < 1 || d.TestCount < 1) throw new MtkdInputException($"{path}: train_count {d.TrainCount} and test_count {d.TestCount} must be at least 1");
        return d;
    }

    private static SceneSplit ReadSplit(string dir, string split, int count, SceneDescriptor d)
    {
        string imagesPath = SceneFiles.Images(dir, split), masksPath = SceneFiles.Masks(dir, split);
        int[] imageShape = d.Channels == 1 ? [count, d.Canvas, d.Canvas] : [count, d.Channels, d.Canvas, d.Canvas];
        ExpectHeader(imagesPath, imageShape, "images");
        ExpectHeader(masksPath, [count, d.Canvas, d.Canvas], "masks");
        byte[] images = NpyFile.Read(imagesPath).Get<byte>();
        byte[] masks = NpyFile.Read(masksPath).Get<byte>();
        for (int i = 0; i < masks.Length; i++)
            if (masks[i] > d.Classes.Count && masks[i] != SceneRenderer.Ignore)
                throw new MtkdInputException($"{masksPath}: value {masks[i]} at element {i} is neither a class 0..{d.Classes.Count} nor 255 (ignore)");
        // The boxes live in instances_SPLIT.json, for detection; segmentation reads the masks alone.
        var boxes = Enumerable.Repeat<IReadOnlyList<SceneBox>>([], count).ToArray();
        return new SceneSplit(count, d.Channels, d.Canvas, images, masks, boxes);
    }

    private static void ExpectHeader(string path, int[] shape, string what)
    {
        if (!File.Exists(path)) throw new MtkdInputException($"{path}: missing ({what} of the scenes)");
        var header = NpyFile.ReadHeader(path);
        if (header.DType != NpyDType.UInt8) throw new MtkdInputException($"{path}: {what} must be uint8, found {header.DType.Name()}");
        if (!header.Shape.SequenceEqual(shape))
            throw new MtkdInputException($"{path}: {what} shape {header.ShapeText}, dataset.json says {NpyHeader.FormatShape(shape)}");
    }
}
