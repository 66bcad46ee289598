using CommandLine;
using MtkdRl.Core;
using MtkdRl.Onnx;
using MtkdRl.Teachers;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

[Verb("export", HelpText = "Write a model (a checkpoint or a pool teacher) as an ONNX file, in eval mode: input `input` [N,Ch,H,W] normalised as mtkd feeds it, outputs `logits` [N,C] and `embedding` [N,D], N dynamic; segmentation: `logits` [N,C+1,H,W]; detection: `logits` [N*L,C+1] and `boxes` [N*L,4] rows.")]
public sealed partial class ExportVerb
{
    [Option("model", Required = true, HelpText = "A checkpoint (.json or .safetensors) or a pool teacher as POOL/NAME.")]
    public string Model { get; set; } = "";

    [Option("onnx", Required = true, HelpText = "The ONNX file to write (atomically).")]
    public string Onnx { get; set; } = "";

    [Option("opset", Default = OnnxExporter.DefaultOpset, HelpText = "ONNX opset to write (13 to 21).")]
    public int Opset { get; set; }

    public int Run(IAnsiConsole console)
    {
        if (string.IsNullOrWhiteSpace(Onnx)) throw new MtkdException("export: --onnx must name a file");
        var target = EvalVerb.Resolve(Model);
        if (target.Checkpoint is null)
            throw new MtkdInputException($"--model {Model}: an imported teacher holds outputs, not an mtkd network to export");
        using var compute = new CpuCompute(1);
        if (ExportDense(console, target.Checkpoint, compute)) return 0;
        var loaded = Checkpoint.Load(target.Checkpoint, compute);
        long bytes = OnnxExporter.Write(Onnx, loaded.Model, loaded.Normalization, Opset);
        var m = loaded.Model;
        console.MarkupLine(Markup.Escape(
            $"wrote {Onnx} ({bytes:N0} bytes, opset {Opset}): {m.Spec}, input [N,{m.InputShape.Channels},{m.InputShape.Height},{m.InputShape.Width}], logits [N,{m.Classes}], embedding [N,{m.EmbeddingWidth}]"));
        console.MarkupLine(Markup.Escape($"input normalisation (pixel / 255 - mean) / std: {loaded.Normalization}"));
        return 0;
    }
}
