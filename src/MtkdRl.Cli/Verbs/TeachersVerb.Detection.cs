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
        var results = TrainingProgress.Run(console, observer => DetectionPool.Train(Pool, scenes, recipe, source, compute, observer));
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape($"pool {Pool} ({source}, seed {recipe.Seed}, detection)"));
        table.AddColumns("teacher", "spec", "augment", "params", "D", "test AP", "seconds", "status");
        foreach (int i in new[] { 3, 4, 5, 6 }) table.Columns[i].RightAligned();
        foreach (var r in results)
        {
            var t = r.Entry;
            table.AddRow(Markup.Escape(t.Name), Markup.Escape(t.Spec), $"{r.Augmentation}", $"{t.Parameters:N0}", $"{t.EmbeddingWidth}", $"{t.TestAccuracy:F4}",
                $"{t.Seconds:F1}", r.Skipped ? "kept (already trained)" : r.Resumed ? "resumed" : "trained");
        }
        console.Write(table);
        console.MarkupLine(Markup.Escape($"wrote {PoolManifest.PathIn(Pool)}; next: mtkd eval --model {Pool}/NAME --data {Data} --detections FILE.json"));
        return 0;
    }
}
