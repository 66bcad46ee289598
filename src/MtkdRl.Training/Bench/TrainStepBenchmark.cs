using System.Diagnostics;
using System.Text.Json.Serialization;
using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>Options of a training-step benchmark.</summary>
/// <param name="Batch">B: samples per step.</param>
/// <param name="Repeats">Timed steps; the median is reported.</param>
/// <param name="Warmup">Untimed steps first (JIT tiers, caches, buffer growth).</param>
/// <param name="MaxSeconds">Budget for the timed steps: fewer repeats (at least 3) when a step is slow.</param>
/// <param name="Input">Shape of one sample (default 1x28x28, Fashion-MNIST).</param>
/// <param name="Classes">C (default 10).</param>
/// <param name="Seed">Seed of the weights and inputs.</param>
public sealed record TrainStepOptions(
    int Batch = 128, int Repeats = 50, int Warmup = 10, double MaxSeconds = 30, SampleShape? Input = null, int Classes = 10,
    ulong Seed = 1234)
{
    public SampleShape EffectiveInput => Input ?? SampleShape.Image(1, 28, 28);
}

/// <summary>One model's timed training step (the `mtkd bench train --json` record).</summary>
/// <param name="StepMedianMs">Median of forward (training mode) + softmax cross-entropy + backward.</param>
/// <param name="SamplesPerSecond">Batch / median step time.</param>
public sealed record TrainStepRecord(
    string Model, string Input, int Classes, int Batch, long Parameters, int Threads, string Gemm, int Repeats,
    double StepMedianMs, double StepP20Ms, double StepP80Ms, double ForwardMedianMs, double BackwardMedianMs,
    [property: JsonPropertyName("samples_per_s")] double SamplesPerSecond)
{
    /// <summary>Which implementation timed the step (benchmarks/torch_train_step.py writes "torch" beside it).</summary>
    [JsonPropertyOrder(-1)]
    public string Framework => "mtkd";
}

/// <summary>
/// Times what a training step costs a model on the CPU: forward in training mode, the loss and its gradient,
/// and backward through every layer, on random inputs (the optimiser step is left out: it does not depend
/// on the architecture's compute, only on its parameter count). The comparison with PyTorch is
/// benchmarks/torch_train_step.py, which times the same layers the same way.
/// </summary>
public static class TrainStepBenchmark
{
    public static TrainStepRecord Run(ModelSpec spec, TrainStepOptions options, CpuCompute compute, Action<string>? progress = null)
    {
        if (options.Batch <= 0) throw new MtkdInputException($"--batch must be positive (got {options.Batch})");
        if (options.Repeats <= 0) throw new MtkdInputException($"--repeat must be at least 1 (got {options.Repeats})");
        if (options.Warmup < 0) throw new MtkdInputException($"--warmup must be at least 0 (got {options.Warmup})");
        var (model, x, rng) = RandomSetup(spec, options, compute);
        var input = options.EffectiveInput;
        int B = options.Batch, C = options.Classes;
        var y = new int[B];
        for (int i = 0; i < B; i++) y[i] = rng.NextInt(C);
        var grad = new float[B * C];

        (double Forward, double Backward) Step()
        {
            long t0 = Stopwatch.GetTimestamp();
            model.Forward(x, B, training: true);
            long t1 = Stopwatch.GetTimestamp();
            SoftmaxCrossEntropy.Compute(model.Logits, y, C, grad);
            model.Backward(grad);
            long t2 = Stopwatch.GetTimestamp();
            return (Ms(t1 - t0), Ms(t2 - t1));
        }

        progress?.Invoke($"{spec}: warm-up");
        for (int i = 0; i < options.Warmup; i++) Step();
        var forward = new List<double>();
        var backward = new List<double>();
        var total = new List<double>();
        var clock = Stopwatch.StartNew();
        while (total.Count < options.Repeats && (total.Count < 3 || clock.Elapsed.TotalSeconds < options.MaxSeconds))
        {
            if (total.Count % 10 == 0) progress?.Invoke($"{spec}: step {total.Count + 1}/{options.Repeats}");
            var (f, b) = Step();
            forward.Add(f);
            backward.Add(b);
            total.Add(f + b);
        }
        double median = Percentile(total, 0.5);
        return new TrainStepRecord(spec.ToString(), input.ToString(), C, B, model.ParameterCount, compute.Threads,
            compute.GemmImplementation, total.Count, median, Percentile(total, 0.2), Percentile(total, 0.8),
            Percentile(forward, 0.5), Percentile(backward, 0.5), B / (median / 1000));
    }

    /// <summary>The model of <paramref name="spec"/> initialised from the options' seed, a batch of Gaussian inputs, and the generator drawn from after them.</summary>
    public static (Model Model, float[] Inputs, Rng Rng) RandomSetup(ModelSpec spec, TrainStepOptions options, CpuCompute compute)
    {
        var input = options.EffectiveInput;
        var rng = new Rng(options.Seed);
        var model = spec.Build(input, options.Classes, compute, rng.Fork());
        var x = new float[options.Batch * input.Size];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextGaussian();
        return (model, x, rng);
    }

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    private static double Percentile(List<double> values, double q)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted[(int)Math.Min(sorted.Count - 1, Math.Floor(q * sorted.Count))];
    }
}
