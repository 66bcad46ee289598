using CommandLine;
using MtkdRl.Cli.Teachers;
using MtkdRl.Core;
using MtkdRl.Onnx;
using MtkdRl.Teachers;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

/// <summary>`teachers import --onnx`: a teacher from any framework, run through ONNX Runtime over the pool's dataset.</summary>
public sealed partial class TeachersVerb
{
    [Option("onnx", HelpText = "import: an ONNX model to run over both splits of the pool's dataset (instead of NPY outputs).")]
    public string? Onnx { get; set; }

    [Option("input", HelpText = "import --onnx: the model's image input (default: its only input).")]
    public string? OnnxInput { get; set; }

    [Option("logits", HelpText = "import --onnx: the output holding the logits [N,C] (default: `logits`, else the only output, else the first of two).")]
    public string? OnnxLogits { get; set; }

    [Option("embedding", HelpText = "import --onnx: the output or inner tensor holding the embedding [N,D] (default: `embedding`, else the second of two outputs, else the tensor the Gemm or MatMul that makes the logits reads).")]
    public string? OnnxEmbedding { get; set; }

    [Option("boxes", HelpText = "import --onnx of a detector: the output holding the box outputs, [N,4,Hg,Wg] or [N*L,4] (default: `boxes`, else the only other output of 4 columns; naming it makes the import a detector's).")]
    public string? OnnxBoxes { get; set; }

    [Option("normalize", HelpText = "import --onnx: the model's input is (pixel / 255 - mean) / std: mean,std or Ch means then Ch stds (e.g. 0.2860,0.3530). Default: the normalisation mtkd exported with the model, else the dataset's own.")]
    public string? Normalize { get; set; }

    [Option("scale", HelpText = "import --onnx: 0-1 feeds pixel / 255 (torchvision's ToTensor).")]
    public string? Scale { get; set; }

    [Option("flip-test", HelpText = "import --onnx of a segmentation teacher: it answers with the flip test of segmentation toolkits (the mean of its logit maps on the canvas and, mirrored back, on the mirrored canvas), in its test mIoU, the cache and live runs; twice its inference. Needs mirror-invariant classes.")]
    public bool FlipTest { get; set; }

    private int RunOnnxImport(IAnsiConsole console)
    {
        string name = string.IsNullOrWhiteSpace(Name) ? throw new MtkdException("teachers import: --name is required") : Name;
        if (TrainLogits is not null || TrainEmbeddings is not null || TestLogits is not null || TestEmbeddings is not null)
            throw new MtkdException("teachers import: give --onnx or the NPY files, not both");
        var options = new OnnxImportOptions(Onnx!, new OnnxBindings(OnnxInput, OnnxLogits, OnnxEmbedding, OnnxBoxes), Normalize, Scale, Threads, FlipTest: FlipTest);
        var task = SegmentationCommands.IsScenes(Data) ? OnnxTaskProbe.OnScenes(Pool, Onnx!, options.Bindings) : TaskKind.Classification;
        if (FlipTest && task != TaskKind.Segmentation)
            throw new MtkdException($"teachers import: --flip-test goes with a segmentation teacher on a scenes folder; this import is a {task.Name()} teacher's");
        if (OnnxBoxes is not null && task != TaskKind.Detection)
            throw new MtkdException($"teachers import: --boxes goes with a detector on a scenes folder; {PoolManifest.PathIn(Pool)} is a {task.Name()} pool");
        var result = task switch
        {
            TaskKind.Detection => OnnxDetectionImport.Import(Pool, name, DetectionScenes.Load(Data!), options),
            TaskKind.Segmentation => OnnxSegmentationImport.Import(Pool, name, SegmentationCommands.Open(console, Data!), options),
            _ => ImportClassifier(console, name, options),
        };
        var entry = result.Entry;
        console.MarkupLine(Markup.Escape($"input: {result.NormalizationSource}: {result.Normalization}"));
        console.MarkupLine(Markup.Escape($"embedding: {result.EmbeddingSource}"));
        if (result.Layout is { } layout) console.MarkupLine(Markup.Escape($"outputs: {layout}"));
        string score = task switch
        {
            TaskKind.Detection => $"test AP {entry.TestAccuracy:F4}",
            TaskKind.Segmentation => $"test mIoU {entry.TestAccuracy:F4}{(entry.FlipTest ? " (flip test)" : "")}",
            _ => $"test accuracy {entry.TestAccuracy:P2}",
        };
        console.MarkupLine(Markup.Escape(
            $"imported ONNX teacher '{entry.Name}' into {PoolManifest.PathIn(Pool)}: D = {entry.EmbeddingWidth}, {score}, {entry.Seconds:F1} s"));
        console.MarkupLine(Markup.Escape($"next: mtkd teachers cache --pool {Pool}"));
        return 0;
    }

    private OnnxImportResult ImportClassifier(IAnsiConsole console, string name, OnnxImportOptions options)
    {
        var data = OpenData(console);
        return TrainingProgress.RunCache(console, progress =>
            OnnxTeacherImport.Import(Pool, name, data, options, progress is null ? null : (split, done, rows) => progress(split, name, done, rows)));
    }
}
