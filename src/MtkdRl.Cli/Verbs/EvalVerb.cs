using CommandLine;
using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Data.Datasets;
using MtkdRl.Data.Formats;
using MtkdRl.Reports.Metrics;
using MtkdRl.Teachers;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

[Verb("eval", HelpText = "Test accuracy of a model (a checkpoint NAME.json or NAME.safetensors, or a pool teacher POOL/NAME), per class with --detail; or, with --score-detections, COCO box AP of a results file.")]
public sealed partial class EvalVerb
{
    [Option("model", HelpText = "A checkpoint (.json or .safetensors) or a pool teacher as POOL/NAME.")]
    public string? Model { get; set; }

    [Option("score-detections", HelpText = "A COCO results file (image_id, category_id, bbox [x,y,w,h], score) to score against the ground truth of --data: a COCO instances file, or a scenes folder's instances_test.json.")]
    public string? ScoreDetections { get; set; }

    [Option("detections", HelpText = "With a detector as --model and a scenes folder as --data: write its test detections to this COCO results file and print AP, AP50, AP75, AR100.")]
    public string? Detections { get; set; }

    [Option("json", HelpText = "With --score-detections or --detections: also write {\"AP\", \"AP50\", \"AP75\", \"AR100\"} to this file.")]
    public string? Json { get; set; }

    [Option("data", HelpText = "Dataset folder (default: the full Fashion-MNIST when installed, else the slice in data/).")]
    public string? Data { get; set; }

    [Option("detail", HelpText = "Also print accuracy per class (segmentation: IoU per class; detection: AP, AP50, AP75, AR100 per category and with the classes merged).")]
    public bool Detail { get; set; }

    [Option("flip", HelpText = "Scenes: the flip test. Segmentation: each canvas also scored mirrored left-right and the two logit maps averaged; detection: the mirrored view's boxes mirrored back and merged with the plain view's by class-wise NMS.")]
    public bool Flip { get; set; }

    [Option("masks", HelpText = "Segmentation: write the per-pixel decisions on the test canvases to this NPY file (uint8 [N, H, W], 0 background, 1..C the classes).")]
    public string? Masks { get; set; }

    [Option("threads", Default = 0, HelpText = "CPU threads (0: every core).")]
    public int Threads { get; set; }

    /// <summary>COCO box AP of a results file against --data's ground truth.</summary>
    private int RunScore(IAnsiConsole console)
    {
        if (Model is not null) throw new MtkdException("eval: give --model or --score-detections, not both");
        if (string.IsNullOrWhiteSpace(Data)) throw new MtkdException("eval --score-detections: --data must name the ground truth (a COCO instances file or a scenes folder)");
        string truthPath = Directory.Exists(Data) ? Path.Combine(Data, "instances_test.json") : Data;
        var truth = CocoFiles.ReadInstances(truthPath);
        var detections = CocoFiles.ReadDetections(ScoreDetections!, truth);
        var summary = CocoBoxEvaluation.Summarise(truth, detections);
        console.MarkupLine(Markup.Escape($"ground truth: {truthPath}: {truth.Images.Count} images, {truth.Annotations.Count} objects, {truth.Categories.Count} categories"));
        console.MarkupLine(Markup.Escape($"detections: {ScoreDetections}: {detections.Count}"));
        PrintSummary(console, summary);
        if (Detail) PrintDetectionDetail(console, truth, detections);
        return 0;
    }

    public int Run(IAnsiConsole console)
    {
        if (ScoreDetections is not null) return RunScore(console);
        if (string.IsNullOrWhiteSpace(Model)) throw new MtkdException("eval: --model is required (or --score-detections with --data)");
        var target = Resolve(Model);
        if (target.Checkpoint is not null && IsDetector(target.Checkpoint)) return RunDetector(console, target.Checkpoint);
        if (target.OnnxDetector is { } detector) return RunOnnxDetector(console, detector.Pool, detector.Teacher);
        if (Detections is not null) throw new MtkdException($"eval: --detections needs a detector as --model; {Model} is a classifier");
        if (Json is not null) throw new MtkdException("eval: --json goes with --score-detections or --detections");
        if (MtkdRl.Cli.Teachers.SegmentationCommands.IsScenes(Data)) return MtkdRl.Cli.Teachers.SegmentationCommands.Eval(console, Model, Data!, Detail, Flip, Masks, Threads);
        if (Flip || Masks is not null) throw new MtkdException($"eval: --flip and --masks go with a model on a scenes folder; {Data ?? "the default dataset"} is not one");
        if (target is { Checkpoint: null, Imported: null })
            throw new MtkdException($"eval: {Model} is a segmentation teacher; --data must be its scenes folder");
        var choice = DatasetLocator.Resolve(Data);
        var data = DatasetLocator.Load(choice.Directory);
        console.MarkupLine(Markup.Escape($"data: {data} [{choice.Reason}]"));
        EvaluationResult result;
        if (target.Imported is { } imported)
        {
            var logits = NpyFile.Read(imported.LogitsPath).ToFiniteMatrix("test logits");
            if (logits.Rows != data.Test.Count || logits.Columns != data.ClassCount)
                throw new MtkdInputException($"{imported.LogitsPath}: test logits are [{logits.Rows},{logits.Columns}], {data.Test.Name} needs [{data.Test.Count},{data.ClassCount}]");
            console.MarkupLine(Markup.Escape($"model: imported teacher '{imported.Name}' (its stored test logits)"));
            result = Evaluator.FromLogits(logits.Values, data.Test);
        }
        else
        {
            using var compute = new CpuCompute(Threads);
            var loaded = Checkpoint.Load(target.Checkpoint!, compute);
            var c = loaded.Config;
            console.MarkupLine(Markup.Escape(
                $"model: {c.Name} ({c.Spec}), {loaded.Model.ParameterCount:N0} parameters, D = {loaded.Model.EmbeddingWidth}, epoch {c.Epoch}, from {loaded.ConfigPath}"));
            if (c.Dataset.Fingerprint != data.FingerprintHex)
                console.MarkupLine(Markup.Escape($"note: trained on {c.Dataset.Name} ({c.Dataset.ShortFingerprint}), evaluating on {data.Name} ({data.ShortFingerprint})"));
            result = Evaluator.Run(loaded.Model, data.Test, loaded.Normalization, c.Name);
        }
        console.MarkupLine(Markup.Escape($"{result.Split}: accuracy {result.Accuracy:P2} ({result.Correct}/{result.Count}), loss {result.Loss:F4}"));
        if (Detail)
        {
            var table = new Table().Border(TableBorder.Rounded).AddColumns("class", "name", "accuracy", "correct", "images");
            foreach (int i in new[] { 0, 2, 3, 4 }) table.Columns[i].RightAligned();
            for (int k = 0; k < result.ClassNames.Count; k++)
                table.AddRow($"{k}", Markup.Escape(result.ClassNames[k]), $"{result.ClassAccuracy(k):P2}", $"{result.ClassCorrect[k]}", $"{result.ClassCount[k]}");
            console.Write(table);
        }
        return 0;
    }

    /// <summary>Prints AP, AP50, AP75, AR100 and, with --json, writes them.</summary>
    private void PrintSummary(IAnsiConsole console, CocoSummary summary)
    {
        console.MarkupLine(Markup.Escape($"AP {summary.AP:F4}  AP50 {summary.AP50:F4}  AP75 {summary.AP75:F4}  AR100 {summary.AR100:F4}"));
        if (Json is null) return;
        AtomicFile.WriteAllText(Json, System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, double>
        {
            ["AP"] = summary.AP, ["AP50"] = summary.AP50, ["AP75"] = summary.AP75, ["AR100"] = summary.AR100,
        }) + "\n");
        console.MarkupLine(Markup.Escape($"wrote {Json}"));
    }

    /// <summary>--detail for detections: the COCO figures per category, then with every class merged into one.</summary>
    private static void PrintDetectionDetail(IAnsiConsole console, CocoInstances truth, IReadOnlyList<CocoDetection> detections)
    {
        static string Figure(double v) => v < 0 ? "-" : $"{v:F4}";
        var table = new Table().Border(TableBorder.Rounded).AddColumns("category", "name", "objects", "AP", "AP50", "AP75", "AR100");
        foreach (int i in new[] { 0, 2, 3, 4, 5, 6 }) table.Columns[i].RightAligned();
        foreach (var c in CocoBoxEvaluation.PerCategory(truth, detections))
            table.AddRow($"{c.CategoryId}", Markup.Escape(c.Name), $"{c.Objects}", Figure(c.Summary.AP), Figure(c.Summary.AP50),
                Figure(c.Summary.AP75), Figure(c.Summary.AR100));
        console.Write(table);
        var merged = CocoBoxEvaluation.ClassAgnostic(truth, detections);
        console.MarkupLine(Markup.Escape(
            $"classes merged: AP {merged.AP:F4}  AP50 {merged.AP50:F4}  AP75 {merged.AP75:F4}  AR100 {merged.AR100:F4} (every object and detection as one category: finding and placing, whatever the class)"));
    }

    internal sealed record ImportedTarget(string Name, string LogitsPath);

    /// <summary>A detection pool's imported ONNX detector.</summary>
    internal sealed record OnnxDetectorTarget(string Pool, PoolTeacher Teacher);

    internal sealed record Target(string? Checkpoint, ImportedTarget? Imported, OnnxDetectorTarget? OnnxDetector = null);

    /// <summary>NAME.json / NAME.safetensors, POOL/NAME for a pool teacher, or NAME when NAME.json exists.</summary>
    internal static Target Resolve(string model)
    {
        if (model.EndsWith(MtkdRl.Teachers.Checkpoint.ConfigExtension, StringComparison.OrdinalIgnoreCase)
            || model.EndsWith(MtkdRl.Teachers.Checkpoint.WeightsExtension, StringComparison.OrdinalIgnoreCase))
        {
            if (!File.Exists(model)) throw new MtkdInputException($"--model {model}: no such file");
            return new Target(model, null);
        }
        string pool = Path.GetDirectoryName(model) ?? "";
        string name = Path.GetFileName(model);
        if (PoolManifest.Exists(pool.Length == 0 ? "." : pool))
        {
            var manifest = PoolManifest.Read(pool.Length == 0 ? "." : pool, expected: null);
            var teacher = manifest.Teachers.FirstOrDefault(t => t.Name == name)
                ?? throw new MtkdInputException($"--model {model}: the pool has no teacher '{name}' (it has {string.Join(", ", manifest.Teachers.Select(t => t.Name))})");
            return teacher.Kind == TeacherKind.Trained ? new Target(Path.Combine(pool, teacher.Checkpoint!), null)
                : teacher.Outputs is { } outputs ? new Target(null, new ImportedTarget(name, Path.Combine(pool, outputs.TestLogits)))
                : manifest.Task == TaskKind.Detection.Name() ? new Target(null, null, new OnnxDetectorTarget(pool.Length == 0 ? "." : pool, teacher))
                : new Target(null, null);  // an ONNX segmentation teacher: run on the scenes (SegmentationCommands.Eval)
        }
        if (File.Exists(model + MtkdRl.Teachers.Checkpoint.ConfigExtension)) return new Target(model, null);
        throw new MtkdInputException($"--model {model}: not a checkpoint (NAME.json or NAME.safetensors) nor a pool teacher (POOL/NAME)");
    }
}
