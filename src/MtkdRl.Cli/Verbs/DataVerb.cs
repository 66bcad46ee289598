using CommandLine;
using MtkdRl.Core;
using MtkdRl.Data.Datasets;
using MtkdRl.Data.Scenes;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

[Verb("data", HelpText = "Datasets made from others. `data scenes`: segmentation and detection canvases composed from a classification dataset's images (docs/SCENES.md).")]
public sealed class DataVerb
{
    [Value(0, MetaName = "action", Required = true, HelpText = "scenes.")]
    public string Action { get; set; } = "";

    [Option("from", HelpText = "The source dataset folder (IDX, CIFAR or NPY, any the readers know).")]
    public string? From { get; set; }

    [Option("out", HelpText = "Folder for the scenes (train/ and test/ images.npy and masks.npy, instances_{train,test}.json, dataset.json).")]
    public string? Out { get; set; }

    [Option("canvas", Default = 64, HelpText = "Side of the square canvas in pixels.")]
    public int Canvas { get; set; } = 64;

    [Option("objects", Default = "1-4", HelpText = "Objects per canvas, A-B (uniform), up to 16.")]
    public string Objects { get; set; } = "1-4";

    [Option("scale", Default = "0.6-1.4", HelpText = "Each object's side as a factor of the source image's side, A-B (uniform).")]
    public string Scale { get; set; } = "0.6-1.4";

    [Option("interpolation", Default = SceneInterpolation.Bilinear, HelpText = "Resizing: bilinear or nearest.")]
    public SceneInterpolation Interpolation { get; set; } = SceneInterpolation.Bilinear;

    [Option("train", Default = 6000, HelpText = "Train canvases (from the source's train split only).")]
    public int Train { get; set; } = 6000;

    [Option("test", Default = 1000, HelpText = "Test canvases (from the source's test split only).")]
    public int Test { get; set; } = 1000;

    [Option("seed", Default = 1, HelpText = "Seed of every random choice; the same seed gives the same bytes.")]
    public int Seed { get; set; } = 1;

    public int Run(IAnsiConsole console) => Action.ToLowerInvariant() switch
    {
        "scenes" => RunScenes(console),
        _ => throw new MtkdException($"data: unknown action '{Action}' (known: scenes)"),
    };

    private int RunScenes(IAnsiConsole console)
    {
        if (string.IsNullOrWhiteSpace(From)) throw new MtkdException("data scenes: --from must name the source dataset folder");
        if (string.IsNullOrWhiteSpace(Out)) throw new MtkdException("data scenes: --out must name a folder");
        if (Seed < 0) throw new MtkdException($"--seed must be at least 0 (got {Seed})");
        var (minObjects, maxObjects) = SceneOptions.ParseIntRange("--objects", Objects);
        var (minScale, maxScale) = SceneOptions.ParseDoubleRange("--scale", Scale);
        var options = new SceneOptions
        {
            Canvas = Canvas, MinObjects = minObjects, MaxObjects = maxObjects, MinScale = minScale, MaxScale = maxScale,
            Interpolation = Interpolation, TrainCount = Train, TestCount = Test, Seed = (ulong)Seed,
        };
        options.Check();
        var source = DatasetLocator.Load(From);
        console.MarkupLine(Markup.Escape($"source: {source}"));
        var result = SceneGenerator.Write(source, options, Out);
        int trainBoxes = result.Train.Boxes.Sum(b => b.Count), testBoxes = result.Test.Boxes.Sum(b => b.Count);
        console.WriteLine($"wrote {result.Train.Count} train canvases ({trainBoxes} objects) and {result.Test.Count} test canvases ({testBoxes} objects) of {options.Canvas}x{options.Canvas} in {Out}");
        return 0;
    }
}
