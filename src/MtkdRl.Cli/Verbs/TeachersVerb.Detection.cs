using MtkdRl.Cli.Teachers;
using MtkdRl.Core;
using MtkdRl.Teachers;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

public sealed partial class TeachersVerb
{
    /// <summary>`teachers train` with a detection recipe: detectors on the scenes folder --data.</summary>
    private int RunTrainDetection(IAnsiConsole console, PoolRecipe recipe, string source)
    {
        if (string.IsNullOrWhiteSpace(Data)) throw new MtkdException($"teachers train: {source} trains detectors; --data must name a scenes folder (made by `mtkd data scenes`)");
        var scenes = DetectionScenes.Load(Data);
        console.MarkupLine(Markup.Escape(
            $"data: scenes {scenes.Name} at {Data}: {scenes.Train.Count} train, {scenes.Test.Count} test, {scenes.ClassCount} classes, {scenes.Canvas}x{scenes.Canvas}"));
        using var compute = new CpuCompute(Threads);
        TrainingProgress.ShowBackbones(console, recipe);
        var results = TrainingProgress.Run(console, observer => DetectionPool.Train(Pool, scenes, recipe, source, compute, observer));
        console.Write(PoolTable($"pool {Pool} ({source}, seed {recipe.Seed}, detection)", results, "test AP", t => $"{t.TestAccuracy:F4}"));
        console.MarkupLine(Markup.Escape($"wrote {PoolManifest.PathIn(Pool)}; next: mtkd eval --model {Pool}/NAME --data {Data} --detections FILE.json"));
        return 0;
    }
}
