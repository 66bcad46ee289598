using MtkdRl.Core;
using MtkdRl.Onnx;
using MtkdRl.Teachers;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

public sealed partial class ExportVerb
{
    /// <summary>Writes a segmentation model or a detector checkpoint; false when the checkpoint is a classifier's.</summary>
    private bool ExportDense(IAnsiConsole console, string checkpoint, CpuCompute compute)
    {
        string configPath = Checkpoint.ConfigPathOf(checkpoint);
        var config = Checkpoint.ReadConfig(configPath);
        var norm = config.Normalization.ToChannelNormalization();
        string written;
        if (TaskKinds.Parse(config.Task, configPath) == TaskKind.Detection)
        {
            var d = DetectorCheckpoint.Load(checkpoint, compute).Detector;
            long bytes = OnnxExporter.Write(Onnx, d, norm, Opset);
            written = $"wrote {Onnx} ({bytes:N0} bytes, opset {Opset}): {d.Spec}, input [N,{d.InputShape.Channels},{d.InputShape.Height},{d.InputShape.Width}], "
                + $"logits [N*{d.Locations},{d.ClassColumns}], boxes [N*{d.Locations},{BoxCoding.Outputs}] (row n*L + y*{d.GridWidth} + x), embedding [N,{d.EmbeddingWidth}]";
        }
        else if (ModelSpec.Parse(config.Spec, $"{configPath}: model").IsSegmentation)
        {
            var m = SegmentationCheckpoint.Load(checkpoint, compute).Model;
            long bytes = OnnxExporter.Write(Onnx, m, norm, Opset);
            written = $"wrote {Onnx} ({bytes:N0} bytes, opset {Opset}): {m.Spec}, input [N,{m.InputShape.Channels},{m.InputShape.Height},{m.InputShape.Width}], "
                + $"logits [N,{m.Classes},{m.InputShape.Height},{m.InputShape.Width}], embedding [N,{m.EmbeddingWidth}]";
        }
        else return false;
        console.MarkupLine(Markup.Escape(written));
        console.MarkupLine(Markup.Escape($"input normalisation (pixel / 255 - mean) / std: {norm}"));
        return true;
    }
}
