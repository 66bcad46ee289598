using CommandLine;
using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Onnx;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs.Bench;

[Verb("onnx", HelpText = "Rows per second of a teacher through ONNX Runtime against the same architecture in mtkd's forward pass, and importing N rows against training an epoch on them.")]
public sealed class BenchOnnxVerb : TimedBenchOptions
{
    [Option('m', "model", Separator = ';', HelpText = "Model specs separated by ';' (default: mlp:512x512;cnn:32x64).")]
    public IEnumerable<string> Models { get; set; } = [];

    [Option("batch", Default = 256, HelpText = "Rows per forward pass (teachers import --onnx runs batches of 256).")]
    public int Batch { get; set; } = 256;

    [Option("rows", Default = 12000, HelpText = "Rows the import and the training epoch are costed for (default: the slice in data/, 10,000 train + 2,000 test).")]
    public int Rows { get; set; } = 12000;

    [Option("input", Default = "1x28x28", HelpText = "Shape of one sample, ChxHxW or D.")]
    public string Input { get; set; } = "1x28x28";

    [Option("classes", Default = 10, HelpText = "Number of classes.")]
    public int Classes { get; set; } = 10;

    [Option("threads", Default = 0, HelpText = "CPU threads of both mtkd and ONNX Runtime (0: every core).")]
    public int Threads { get; set; }

    public int Run(IAnsiConsole console)
    {
        var specs = (Models.Any() ? Models : BenchTrainVerb.DefaultModels).Select(m => ModelSpec.Parse(m, "--model")).ToList();
        if (Batch <= 0) throw new MtkdException($"--batch must be positive (got {Batch})");
        if (Classes < 2) throw new MtkdException($"--classes must be at least 2 (got {Classes})");
        var options = new TrainStepOptions(Batch, Repeat, Warmup, MaxSeconds, SampleShape.Parse(Input), Classes, (ulong)Seed);
        BenchJson.Reserve(Json);
        using var compute = new CpuCompute(Threads);
        var records = new List<OnnxBenchRecord>();
        foreach (var spec in specs)
            console.Status().Start(spec.ToString(), ctx =>
                records.Add(OnnxTeacherBenchmark.Run(spec, options, Rows, compute, msg => ctx.Status(Markup.Escape(msg)))));
        var table = new Table().AddColumns("model", "batch", "threads", "mtkd fwd ms", "ORT fwd ms", "mtkd rows/s", "ORT rows/s",
            "train rows/s", $"import {Rows} rows s", $"train epoch {Rows} rows s", "max rel err");
        foreach (var r in records)
            table.AddRow(Markup.Escape(r.Model), $"{r.Batch}", $"{r.Threads}", $"{r.MtkdForwardMs:F2}", $"{r.OnnxForwardMs:F2}",
                $"{r.MtkdRowsPerSecond:F0}", $"{r.OnnxRowsPerSecond:F0}", $"{r.TrainRowsPerSecond:F0}", $"{r.ImportSeconds:F2}",
                $"{r.TrainEpochSeconds:F2}", $"{r.MaxRelativeError:E1}");
        console.Write(table);
        if (Json is not null)
        {
            BenchJson.Write(Json, records);
            console.MarkupLine($"wrote {Markup.Escape(Json)}");
        }
        return 0;
    }
}
