using MtkdRl.Core;
using MtkdRl.Data.Scenes;
using MtkdRl.Teachers;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Teachers;

/// <summary>`teachers train` and `eval` when --data is a scenes folder: segmentation teachers and their mIoU.</summary>
public static class SegmentationCommands
{
    /// <summary>A scenes folder: its dataset.json names a dense task (<see cref="SceneFiles.IsScenesFolder"/>).</summary>
    public static bool IsScenes(string? dir) => SceneFiles.IsScenesFolder(dir);

    public static SceneDataset Open(IAnsiConsole console, string dir)
    {
        var data = SceneDataset.Load(dir);
        console.MarkupLine(Markup.Escape($"data: scenes {dir}: {data.ClassCount} classes + background, {data.Train.Count} train / {data.Test.Count} test canvases of {data.Descriptor.Canvas}x{data.Descriptor.Canvas}"));
        return data;
    }

    public static int Train(IAnsiConsole console, string pool, string dataDir, PoolRecipe recipe, string source, int threads)
    {
        var data = Open(console, dataDir);
        using var compute = new CpuCompute(threads);
        TrainingProgress.ShowBackbones(console, recipe);
        var results = TrainingProgress.Run(console, observer => SegmentationPool.Train(pool, data, recipe, source, compute, observer));
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape($"pool {pool} ({source}, seed {recipe.Seed}, segmentation)"));
        table.AddColumns("teacher", "spec", "flip", "params", "D", "test mIoU", "seconds", "status");
        foreach (int i in new[] { 3, 4, 5, 6 }) table.Columns[i].RightAligned();
        foreach (var r in results)
        {
            var t = r.Entry;
            string status = r.Rescored ? $"kept, scored again ({(t.FlipTest ? "flip test" : "without the flip test")})"
                : r.Skipped ? "kept (already trained)" : "trained";
            table.AddRow(Markup.Escape(t.Name), Markup.Escape(t.Spec), r.Flip ? "yes" : "no", $"{t.Parameters:N0}", $"{t.EmbeddingWidth}",
                $"{t.TestAccuracy:F4}{(t.FlipTest ? " (flip test)" : "")}", $"{t.Seconds:F1}", Markup.Escape(status));
        }
        console.Write(table);
        console.MarkupLine(Markup.Escape($"wrote {PoolManifest.PathIn(pool)}"));
        return 0;
    }

    /// <summary>mIoU and pixel accuracy of a segmentation checkpoint (NAME.json or POOL/NAME) on the scenes' test split; per-class IoU with detail.</summary>
    public static int Eval(IAnsiConsole console, string model, string dataDir, bool detail, bool flip, string? masksPath, int threads)
    {
        var data = Open(console, dataDir);
        using var compute = new CpuCompute(threads);
        var (network, norm, classNames, owner) = Load(console, model, data, compute);
        using var _ = owner;
        if (network.Classes != data.ClassCount + 1 || network.InputShape.Height != data.Descriptor.Canvas || network.InputShape.Channels != data.Test.Channels)
            throw new MtkdInputException($"{model}: the model takes {network.InputShape} with {network.Classes} classes, the scenes have {data.Test.Channels}x{data.Descriptor.Canvas}x{data.Descriptor.Canvas} with {data.ClassCount + 1}");
        var predictions = masksPath is null ? null : new byte[(long)data.Test.Count * network.Pixels];
        var m = SegmentationEvaluator.Evaluate(network, data.Test, norm, flip: flip, predictions: predictions);
        console.MarkupLine(Markup.Escape($"test{(flip ? " (flip test)" : "")}: mIoU {m.MeanIoU:F4}, pixel accuracy {m.PixelAccuracy:P2} ({m.ValidPixels:N0} labelled pixels)"));
        if (masksPath is not null)
        {
            MtkdRl.Data.Formats.NpyFile.Write(masksPath, predictions!, data.Test.Count, data.Descriptor.Canvas, data.Descriptor.Canvas);
            console.MarkupLine(Markup.Escape($"wrote {masksPath}: the per-pixel decisions, uint8 [{data.Test.Count}, {data.Descriptor.Canvas}, {data.Descriptor.Canvas}]"));
        }
        if (detail)
        {
            var names = classNames.Count == network.Classes ? classNames : ["background", .. data.Descriptor.Classes];
            var table = new Table().Border(TableBorder.Rounded).AddColumns("class", "name", "IoU");
            table.Columns[0].RightAligned();
            table.Columns[2].RightAligned();
            for (int k = 0; k < m.PerClassIoU.Count; k++)
                table.AddRow($"{k}", Markup.Escape(names[k]), double.IsNaN(m.PerClassIoU[k]) ? "absent" : $"{m.PerClassIoU[k]:F4}");
            console.Write(table);
            console.MarkupLine(Markup.Escape(
                $"classes merged: object IoU {m.ForegroundIoU:F4} (every object class as one against background: finding the objects, whatever the class)"));
        }
        return 0;
    }

    /// <summary>
    /// The network of --model: a segmentation checkpoint (NAME.json or POOL/NAME), or a pool's imported ONNX teacher
    /// (run through ONNX Runtime; the returned owner closes it). With the normalisation its inputs get and its class names.
    /// A pool teacher that answers with the flip test (pool.json's flip_test) is scored as the pool serves it, a trained
    /// one named by its checkpoint too.
    /// </summary>
    private static (ISegmentationNetwork Network, MtkdRl.Data.Batching.ChannelNormalization Norm, IReadOnlyList<string> ClassNames, IDisposable? Owner) Load(
        IAnsiConsole console, string model, SceneDataset data, CpuCompute compute)
    {
        string pool = Path.GetDirectoryName(model) is { Length: > 0 } p ? p : ".";
        var teacher = PoolTeacherOf(pool, model);
        if (teacher?.FlipTest == true) console.MarkupLine(Markup.Escape($"{teacher.Name} answers with the flip test (flip_test in {PoolManifest.PathIn(pool)})"));
        if (teacher is { Checkpoint: null })
        {
            var onnx = MtkdRl.Onnx.OnnxSegmentationTeacher.Open(pool, teacher, data, compute.Threads);
            console.MarkupLine(Markup.Escape($"model: {teacher.Name} (imported ONNX teacher), D = {onnx.EmbeddingWidth}, from {Path.Combine(pool, teacher.Onnx!.File)}"));
            return (FlipTestTeacher.AsServed(teacher, onnx), onnx.Normalization, [], onnx);
        }
        var (network, norm, classNames) = LoadCheckpoint(console, teacher is null ? model : Path.Combine(pool, teacher.Checkpoint!), compute);
        return (teacher is null ? network : FlipTestTeacher.AsServed(teacher, network), norm, classNames, null);
    }

    /// <summary>
    /// The segmentation pool teacher that --model names: POOL/NAME of a teacher in POOL/pool.json, or a checkpoint that
    /// the segmentation pool.json beside it lists; null for a checkpoint no such pool lists.
    /// </summary>
    private static PoolTeacher? PoolTeacherOf(string pool, string model)
    {
        bool checkpoint = File.Exists(Checkpoint.ConfigPathOf(model));
        if (!PoolManifest.Exists(pool))
            return checkpoint ? null : throw new MtkdInputException($"--model {model}: not a checkpoint (NAME.json) nor a pool teacher (POOL/NAME)");
        if (checkpoint)
        {
            var manifest = PoolManifest.Read(pool, null);
            if (TaskKinds.Parse(manifest.Task, PoolManifest.PathIn(pool)) != TaskKind.Segmentation) return null;
            string file = Path.GetFileName(Checkpoint.ConfigPathOf(model));
            return manifest.Teachers.FirstOrDefault(t => t.Checkpoint == file);
        }
        string name = Path.GetFileName(model);
        return PoolManifest.Read(pool, TaskKind.Segmentation).Teachers.FirstOrDefault(t => t.Name == name)
            ?? throw new MtkdInputException($"--model {model}: the pool has no teacher '{name}'");
    }

    private static (ISegmentationNetwork Network, MtkdRl.Data.Batching.ChannelNormalization Norm, IReadOnlyList<string> ClassNames) LoadCheckpoint(
        IAnsiConsole console, string model, CpuCompute compute)
    {
        var (network, config) = SegmentationCheckpoint.Load(model, compute);
        console.MarkupLine(Markup.Escape($"model: {config.Name} ({config.Spec}), {network.ParameterCount:N0} parameters, D = {network.EmbeddingWidth}, from {Checkpoint.ConfigPathOf(model)}"));
        return (network, config.Normalization.ToChannelNormalization(), config.ClassNames);
    }
}
