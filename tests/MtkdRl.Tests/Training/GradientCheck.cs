using MtkdRl.Training;
using Xunit.Sdk;

namespace MtkdRl.Tests.Training;

/// <summary>
/// Checks forward and backward against <see cref="ReferenceLayers"/>: the forward output against the float64
/// reference, and every analytic gradient (input and parameters) against central differences of the
/// float64 reference of L = sum(R * y) for a random R, with a small step (1e-6) that float64 resolves (and, for
/// an entry near a kink, a tenth and ten times that step: <see cref="Error"/>).
/// Errors are max|analytic - numeric| / max|numeric|.
/// </summary>
public static class GradientCheck
{
    public const double ForwardTolerance = 1e-5;
    public const double GradientTolerance = 1e-4;
    private const double Step = 1e-6;

    public sealed record Report(double Forward, double Input, IReadOnlyDictionary<string, double> Parameters)
    {
        public void AssertWithin(string what, double forwardTolerance = ForwardTolerance, double gradientTolerance = GradientTolerance)
        {
            if (!(Forward <= forwardTolerance)) throw new XunitException($"{what}: forward error {Forward:E2} > {forwardTolerance:E0}");
            if (!(Input <= gradientTolerance)) throw new XunitException($"{what}: input-gradient error {Input:E2} > {gradientTolerance:E0}");
            foreach (var (name, error) in Parameters)
                if (!(error <= gradientTolerance)) throw new XunitException($"{what}: gradient error of {name} {error:E2} > {gradientTolerance:E0}");
        }
    }

    /// <summary>
    /// Runs layer.Forward(x) and Backward(R) and compares with the reference. <paramref name="tamper"/>, when
    /// given, alters the analytic gradients before the comparison (to show a wrong gradient is caught).
    /// </summary>
    public static Report Layer(Layer layer, float[] x, int B, bool training, Random rng, Action<Layer, float[]>? tamper = null)
    {
        var running = layer is BatchNorm bn ? ReferenceLayers.Running(bn) : null;
        var y = layer.Forward(x, B, training);
        var p = ReferenceLayers.CopyParameters(layer.Parameters);
        var xd = x.Take(B * layer.InputShape.Size).Select(v => (double)v).ToArray();
        var yRef = ReferenceLayers.Forward(layer, xd, B, p, training, running);
        double forward = RelativeError(y.AsSpan(0, yRef.Length), yRef);

        var r = Random(rng, B * layer.OutputShape.Size);
        var dx = layer.Backward(r, inputGradient: true)!;
        tamper?.Invoke(layer, dx);
        double Loss(double[] input) => Dot(r, ReferenceLayers.Forward(layer, input, B, p, training, running));

        double input = Error(dx.AsSpan(0, xd.Length), xd, () => Loss(xd));
        var parameters = new Dictionary<string, double>();
        foreach (var param in layer.Parameters)
        {
            var values = p[param];
            parameters[param.Name] = Error(param.Grad, values, () => Loss(xd));
        }
        return new Report(forward, input, parameters);
    }

    /// <summary>
    /// The same for a whole model: L = sum(R * logits) + sum(Q * embedding), with the model's Backward
    /// given both gradients. Training mode needs a model without dropout (its mask has no reference).
    /// </summary>
    public static Report Model(Model model, float[] x, int B, bool training, Random rng)
    {
        var running = model.Layers.OfType<BatchNorm>().ToDictionary(bn => (Layer)bn, ReferenceLayers.Running);
        model.Forward(x, B, training);
        var p = ReferenceLayers.CopyParameters(model.Parameters);
        var xd = x.Take(B * model.InputShape.Size).Select(v => (double)v).ToArray();
        var r = Random(rng, B * model.Classes);
        var q = Random(rng, B * model.EmbeddingWidth);

        (double[] Logits, double[] Embedding) Reference(double[] input)
        {
            var a = input;
            foreach (var layer in model.Body) a = ReferenceLayers.Forward(layer, a, B, p, training, running.GetValueOrDefault(layer));
            var embedding = a;
            foreach (var layer in model.Head) a = ReferenceLayers.Forward(layer, a, B, p, training, running.GetValueOrDefault(layer));
            return (a, embedding);
        }

        var (logits, _) = Reference(xd);
        double forward = RelativeError(model.Logits, logits);
        model.Backward(r, q, inputGradient: true);
        double Loss()
        {
            var (z, e) = Reference(xd);
            return Dot(r, z) + Dot(q, e);
        }
        double floor = ModelFloor(model.Parameters);
        double input = Error(model.InputGradient, xd, Loss, floor);
        var parameters = model.Parameters.ToDictionary(param => param.Name, param => Error(param.Grad, p[param], Loss, floor));
        return new Report(forward, input, parameters);
    }

    /// <summary>
    /// <see cref="RelativeError"/> of <paramref name="analytic"/> against central differences of <paramref name="loss"/>
    /// over <paramref name="values"/> (perturbed in place, restored), with one guard: a ReLU's zero or a max-pool tie
    /// within one step of an entry bends the loss inside the difference and biases it (random weights put one there
    /// now and then). An entry whose difference misses the analytic value by more than a quarter of the tolerance is
    /// differenced again at a tenth and at ten times the step, and the closest of the three is kept. A wrong
    /// gradient misses at every step, so it still fails; a kink can hide inside at most one of them.
    /// </summary>
    public static double Error(ReadOnlySpan<float> analytic, double[] values, Func<double> loss, double floor = 0)
    {
        var numeric = Numeric(values, loss);
        if (analytic.Length != numeric.Length) throw new XunitException($"length {analytic.Length} != {numeric.Length}");
        double scale = Math.Max(Math.Max(1e-6, floor), numeric.Max(Math.Abs)), suspect = GradientTolerance / 4 * scale;
        for (int i = 0; i < numeric.Length; i++)
        {
            double got = analytic[i];
            if (!(Math.Abs(got - numeric[i]) > suspect)) continue;
            foreach (double step in new[] { Step / 10, Step * 10 })
            {
                double other = Central(values, i, step, loss);
                if (Math.Abs(got - other) < Math.Abs(got - numeric[i])) numeric[i] = other;
            }
        }
        return RelativeError(analytic, numeric, floor);
    }

    /// <summary>
    /// The denominator floor of a whole model's checks: <see cref="ModelFloorShare"/> of its largest analytic gradient
    /// entry. A tensor whose gradient is a small remainder of larger terms (a batch-normalised stage between two others
    /// in training mode: its bias gradient nearly cancels, 7e-4 of the model's largest) is then held to float32's
    /// rounding of those terms rather than to 1e-4 of the remainder; every entry is still held to 1e-6 of the
    /// model's largest gradient or better. The input gradient gets the same floor: behind a batch-normalised first stage
    /// in training mode it is such a remainder too (a segmentation network's at 9e-4 of its scale missed 1e-4 by
    /// float32 rounding alone, its central differences steady to six digits from steps of 1e-7 to 1e-3).
    /// </summary>
    public static double ModelFloor(IEnumerable<Parameter> parameters) =>
        ModelFloorShare * parameters.Select(p => p.Grad.Length == 0 ? 0 : p.Grad.Max(v => Math.Abs((double)v))).DefaultIfEmpty(0).Max();

    public const double ModelFloorShare = 1e-2;

    private static double Central(double[] values, int i, double step, Func<double> loss)
    {
        double keep = values[i];
        values[i] = keep + step;
        double up = loss();
        values[i] = keep - step;
        double down = loss();
        values[i] = keep;
        return (up - down) / (2 * step);
    }

    /// <summary>Central differences of <paramref name="loss"/> with respect to each entry of <paramref name="values"/> (perturbed in place, restored).</summary>
    public static double[] Numeric(double[] values, Func<double> loss)
    {
        var g = new double[values.Length];
        for (int i = 0; i < values.Length; i++) g[i] = Central(values, i, Step, loss);
        return g;
    }

    public static double RelativeError(ReadOnlySpan<float> got, double[] want, double floor = 0)
    {
        if (got.Length != want.Length) throw new XunitException($"length {got.Length} != {want.Length}");
        double maxDiff = 0, maxRef = Math.Max(1e-6, floor);
        for (int i = 0; i < want.Length; i++)
        {
            double d = Math.Abs(got[i] - want[i]);
            if (double.IsNaN(d)) return double.NaN;
            maxDiff = Math.Max(maxDiff, d);
            maxRef = Math.Max(maxRef, Math.Abs(want[i]));
        }
        return maxDiff / maxRef;
    }

    public static float[] Random(Random rng, int n, double scale = 1)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(scale * (rng.NextDouble() * 2 - 1) * 1.7);
        return a;
    }

    /// <summary>Values at least 1e-3 apart in random order, so no max-pool window holds a near-tie.</summary>
    public static float[] Distinct(Random rng, int n)
    {
        var a = Enumerable.Range(0, n).Select(i => (float)((i - n / 2) * 0.01 + 0.001)).ToArray();
        rng.Shuffle(a);
        return a;
    }

    private static double Dot(float[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < b.Length; i++) s += a[i] * b[i];
        return s;
    }
}
