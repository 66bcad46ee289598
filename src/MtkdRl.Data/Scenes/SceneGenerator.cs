using System.Text.Json;
using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Data.Datasets;
using MtkdRl.Data.Formats;

namespace MtkdRl.Data.Scenes;

/// <summary>
/// Makes a segmentation and detection dataset from a classification dataset: train canvases from its train split
/// only, test canvases from its test split only, each split from its own stream of the seed, so the same source,
/// settings and seed give the same bytes.
/// </summary>
public static class SceneGenerator
{
    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    public sealed record Result(SceneSplit Train, SceneSplit Test, SceneDescriptor Descriptor);

    public static Result Compose(ImageDataset source, SceneOptions options)
    {
        options.Check(source.Height, source.Width);
        var root = new Rng(options.Seed);
        var trainRng = root.Fork();
        var testRng = root.Fork();
        var train = SceneSplit.Compose(source.Train, options, options.TrainCount, trainRng);
        var test = SceneSplit.Compose(source.Test, options, options.TestCount, testRng);
        return new Result(train, test, Describe(source, options));
    }

    /// <summary>Composes and writes the folder (under its lock); dataset.json is written last, so a folder that has it is whole.</summary>
    public static Result Write(ImageDataset source, SceneOptions options, string outDir)
    {
        if (Path.GetFullPath(outDir).TrimEnd('/') == Path.GetFullPath(source.Source).TrimEnd('/'))
            throw new MtkdInputException($"--out {outDir}: is the source folder; choose another");
        var result = Compose(source, options);
        using var folderLock = FolderLock.Acquire(outDir);
        foreach (var (split, scenes) in new[] { ("train", result.Train), ("test", result.Test) })
        {
            Directory.CreateDirectory(Path.Combine(outDir, split));
            int[] imageShape = scenes.Channels == 1
                ? [scenes.Count, scenes.Canvas, scenes.Canvas]
                : [scenes.Count, scenes.Channels, scenes.Canvas, scenes.Canvas];
            NpyFile.Write(SceneFiles.Images(outDir, split), scenes.Images, imageShape);
            NpyFile.Write(SceneFiles.Masks(outDir, split), scenes.Masks, scenes.Count, scenes.Canvas, scenes.Canvas);
            CocoFiles.WriteInstances(SceneFiles.Instances(outDir, split), SceneInstances.Of(split, scenes, source.ClassNames));
        }
        WriteJson(SceneFiles.Descriptor(outDir), result.Descriptor, Json);
        return result;
    }

    private static void WriteJson<T>(string path, T value, JsonSerializerOptions options)
    {
        byte[] bytes = JsonSerializer.SerializeToUtf8Bytes(value, options);
        AtomicFile.WriteAllBytes(path, [.. bytes, (byte)'\n']);
    }

    private static SceneDescriptor Describe(ImageDataset source, SceneOptions options) => new()
    {
        Name = $"scenes of {source.Name}",
        TaskKinds = SceneDescriptor.Kinds,
        Classes = source.ClassNames,
        Canvas = options.Canvas,
        Channels = source.Channels,
        TrainCount = options.TrainCount,
        TestCount = options.TestCount,
        MirrorInvariant = source.Mirror.Invariant,
        Source = new SceneSourceInfo { Name = source.Name, Fingerprint = source.FingerprintHex, Height = source.Height, Width = source.Width },
        Generator = new SceneGeneratorInfo
        {
            ObjectsMin = options.MinObjects,
            ObjectsMax = options.MaxObjects,
            ScaleMin = options.MinScale,
            ScaleMax = options.MaxScale,
            Interpolation = options.Interpolation.ToString().ToLowerInvariant(),
            HighThreshold = options.HighThreshold,
            LowThreshold = options.LowThreshold,
            MinVisiblePixels = options.MinVisiblePixels,
            MinVisibleFraction = options.MinVisibleFraction,
            Seed = options.Seed,
        },
    };
}
