using System.Diagnostics;
using System.Text.Json.Serialization;
using MtkdRl.Core;
using MtkdRl.Data.Batching;
using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>One architecture's eval forward pass in mtkd and in ONNX Runtime, and what importing N rows costs against training on them (the `mtkd bench onnx --json` record).</summary>
/// <param name="MtkdRowsPerSecond">Rows per second of mtkd's own eval forward pass.</param>
/// <param name="OnnxRowsPerSecond">Rows per second of the exported model through ONNX Runtime.</param>
/// <param name="TrainRowsPerSecond">Rows per second of a training step (forward, loss, backward) in mtkd.</param>
/// <param name="ImportSeconds">Rows / ONNX rows per second: running an ONNX teacher over N rows, as `teachers import --onnx` does.</param>
/// <param name="TrainEpochSeconds">Rows / training rows per second: one training epoch over N rows.</param>
/// <param name="MaxRelativeError">max |onnx - mtkd| / max |mtkd| over the timed logits.</param>
public sealed record OnnxBenchRecord(
    string Model, string Input, int Classes, int Batch, long Parameters, int Threads, int Repeats,
    double MtkdForwardMs, double OnnxForwardMs,
    [property: JsonPropertyName("mtkd_rows_per_s")] double MtkdRowsPerSecond,
    [property: JsonPropertyName("onnx_rows_per_s")] double OnnxRowsPerSecond,
    [property: JsonPropertyName("train_rows_per_s")] double TrainRowsPerSecond,
    int Rows, double ImportSeconds, double TrainEpochSeconds, double MaxRelativeError);

/// <summary>
/// Times the eval forward pass of a spec with random weights in mtkd and, exported, in ONNX Runtime on the same
/// random batch with the same thread count; then a training step in mtkd (<see cref="TrainStepBenchmark"/>), so
/// the cost of importing a teacher (one ONNX pass over the rows) stands beside the cost of training one epoch.
/// </summary>
public static class OnnxTeacherBenchmark
{
    public static OnnxBenchRecord Run(ModelSpec spec, TrainStepOptions options, int rows, CpuCompute compute, Action<string>? progress = null)
    {
        if (rows < 1) throw new MtkdInputException($"--rows must be positive (got {rows})");
        var (model, x, _) = TrainStepBenchmark.RandomSetup(spec, options, compute);
        var input = options.EffectiveInput;
        int B = options.Batch, C = options.Classes;
        string path = Path.Combine(Path.GetTempPath(), $"mtkd-bench-{Environment.ProcessId}-{Guid.NewGuid():N}.onnx");
        try
        {
            OnnxExporter.Write(path, model, ChannelNormalization.Unit(input.Channels));
            using var onnx = OnnxTeacherModel.Open(path, new OnnxBindings(), input, C, compute.Threads);
            var logits = new float[B * C];
            var embedding = new float[B * model.EmbeddingWidth];
            progress?.Invoke($"{spec}: mtkd forward");
            var mtkd = Time(() => model.Forward(x, B, training: false), options);
            progress?.Invoke($"{spec}: ONNX Runtime");
            var runtime = Time(() => onnx.Run(x, B, logits, embedding), options);
            model.Forward(x, B, training: false);
            double error = OnnxAgreement.RelativeError(logits, model.Logits);
            progress?.Invoke($"{spec}: training step");
            var train = TrainStepBenchmark.Run(spec, options, compute);
            double onnxRows = B / (runtime.Median / 1000), trainRows = train.SamplesPerSecond;
            return new OnnxBenchRecord(spec.ToString(), input.ToString(), C, B, model.ParameterCount, compute.Threads, runtime.Count,
                mtkd.Median, runtime.Median, B / (mtkd.Median / 1000), onnxRows, trainRows, rows, rows / onnxRows, rows / trainRows, error);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static (double Median, int Count) Time(Action work, TrainStepOptions options)
    {
        for (int i = 0; i < options.Warmup; i++) work();
        var times = new List<double>();
        var clock = Stopwatch.StartNew();
        while (times.Count < options.Repeats && (times.Count < 3 || clock.Elapsed.TotalSeconds < options.MaxSeconds))
        {
            long t0 = Stopwatch.GetTimestamp();
            work();
            times.Add((Stopwatch.GetTimestamp() - t0) * 1000.0 / Stopwatch.Frequency);
        }
        times.Sort();
        return (times[times.Count / 2], times.Count);
    }
}
