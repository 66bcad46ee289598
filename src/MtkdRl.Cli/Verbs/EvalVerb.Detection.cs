using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Teachers;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

public sealed partial class EvalVerb
{
    private static bool IsDetector(string checkpoint) =>
        TaskKinds.Parse(MtkdRl.Teachers.Checkpoint.ReadConfig(checkpoint).Task, MtkdRl.Teachers.Checkpoint.ConfigPathOf(checkpoint)) == TaskKind.Detection;

    /// <summary>A detector checkpoint on the test scenes of --data: its detections (with --detections) and COCO AP, AP50, AP75, AR100.</summary>
    private int RunDetector(IAnsiConsole console, string checkpoint)
    {
        var scenes = DetectionScenes(console);
        using var compute = new CpuCompute(Threads);
        var loaded = DetectorCheckpoint.Load(checkpoint, compute);
        var c = loaded.Config;
        console.MarkupLine(Markup.Escape($"model: {c.Name} ({c.Spec}), {loaded.Detector.ParameterCount:N0} parameters, stride {loaded.Detector.Stride}, epoch {c.Epoch}, from {loaded.ConfigPath}"));
        if (c.Dataset.Fingerprint != scenes.FingerprintHex)
            console.MarkupLine(Markup.Escape($"note: trained on {c.Dataset.Name} ({c.Dataset.ShortFingerprint}), evaluating on other scenes ({scenes.FingerprintHex[..12]})"));
        return ScoreDetector(console, loaded.Detector, scenes, c.Normalization.Mean, c.Normalization.Std);
    }

    /// <summary>A detection pool's imported ONNX detector on the test scenes of --data, as <see cref="RunDetector"/>.</summary>
    private int RunOnnxDetector(IAnsiConsole console, string pool, PoolTeacher teacher)
    {
        var scenes = DetectionScenes(console);
        using var onnx = MtkdRl.Onnx.OnnxDetectionTeacher.Open(pool, teacher, scenes, Threads);
        console.MarkupLine(Markup.Escape($"model: {teacher.Name} (imported ONNX detector), stride {onnx.Stride}, D = {onnx.EmbeddingWidth}, from {Path.Combine(pool, teacher.Onnx!.File)}"));
        return ScoreDetector(console, onnx, scenes, [.. onnx.Normalization.Mean], [.. onnx.Normalization.Std]);
    }

    private DetectionScenes DetectionScenes(IAnsiConsole console)
    {
        if (string.IsNullOrWhiteSpace(Data)) throw new MtkdException($"eval: {Model} is a detector; --data must name a scenes folder");
        if (Masks is not null) throw new MtkdException($"eval: --masks writes a segmentation model's decisions; {Model} is a detector (--detections writes its boxes)");
        return MtkdRl.Teachers.DetectionScenes.Load(Data);
    }

    private int ScoreDetector(IAnsiConsole console, IDetectionNetwork detector, DetectionScenes scenes, float[] mean, float[] std)
    {
        var result = DetectorInference.Run(detector, scenes, scenes.Test, mean, std, flip: Flip);
        console.MarkupLine(Markup.Escape($"test scenes{(Flip ? " (flip test)" : "")}: {scenes.Test.Count} images, {scenes.Test.Instances.Annotations.Count} objects, {result.Detections.Count} detections"));
        if (Detections is not null)
        {
            CocoFiles.WriteDetections(Detections, result.Detections);
            console.MarkupLine(Markup.Escape($"wrote {Detections}"));
        }
        PrintSummary(console, result.Summary);
        if (Detail) PrintDetectionDetail(console, scenes.Test.Instances, result.Detections);
        return 0;
    }
}
