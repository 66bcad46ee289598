using MtkdRl.Core;
using MtkdRl.Training;

namespace MtkdRl.Tests.Training;

/// <summary>
/// End-to-end wiring: small models learn a separable synthetic problem to 100% training accuracy, with
/// minibatches that leave a partial last batch, and two runs from the same seed end bit-for-bit equal.
/// </summary>
public class LearningTests
{
    private const int Classes = 4, N = 60, Side = 6;

    /// <summary>Class c lights a 3x3 block in quadrant c of a noisy 6x6 image.</summary>
    private static (float[] X, int[] Y) Problem(Rng rng)
    {
        var x = new float[N * Side * Side];
        var y = new int[N];
        for (int i = 0; i < N; i++)
        {
            int c = i % Classes;
            y[i] = c;
            for (int p = 0; p < Side * Side; p++) x[i * Side * Side + p] = (float)(0.3 * rng.NextGaussian());
            int top = c / 2 * 3, left = c % 2 * 3;
            for (int r = 0; r < 3; r++)
                for (int k = 0; k < 3; k++) x[i * Side * Side + (top + r) * Side + left + k] += 1f;
        }
        return (x, y);
    }

    private static (double Accuracy, float[][] Weights) Train(string spec, string optimizer, ulong seed)
    {
        var rng = new Rng(seed);
        var (x, y) = Problem(rng);
        var model = ModelSpec.Parse(spec).Build(SampleShape.Image(1, Side, Side), Classes, TrainingTestCompute.Shared, rng.Fork());
        Optimizer opt = optimizer == "adam"
            ? new Adam(model.Parameters, 0.01)
            : new Sgd(model.Parameters, 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4);
        const int batch = 16, epochs = 15;
        var schedule = new WarmupSchedule(4, new CosineSchedule(opt.LearningRate, epochs * 4, start: 4));
        var order = Enumerable.Range(0, N).ToArray();
        var xb = new float[batch * Side * Side];
        var yb = new int[batch];
        var grad = new float[batch * Classes];
        long step = 0;
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            rng.Shuffle<int>(order);
            for (int start = 0; start < N; start += batch)
            {
                int n = Math.Min(batch, N - start);
                for (int i = 0; i < n; i++)
                {
                    x.AsSpan(order[start + i] * Side * Side, Side * Side).CopyTo(xb.AsSpan(i * Side * Side));
                    yb[i] = y[order[start + i]];
                }
                model.Forward(xb.AsSpan(0, n * Side * Side), n, training: true);
                SoftmaxCrossEntropy.Compute(model.Logits, yb.AsSpan(0, n), Classes, grad.AsSpan(0, n * Classes));
                model.Backward(grad.AsSpan(0, n * Classes));
                opt.LearningRate = schedule.At(step++);
                opt.Step();
            }
        }
        model.Forward(x, N, training: false);
        double accuracy = (double)Accuracy.CountCorrect(model.Logits, y, Classes) / N;
        return (accuracy, model.Parameters.Select(p => (float[])p.Value.Clone()).ToArray());
    }

    [Theory]
    [InlineData("mlp:16", "adam")]
    [InlineData("mlp:16x8,bn,drop0.1", "sgd")]
    [InlineData("cnn:4,fc8", "adam")]
    [InlineData("cnn:4x4,gap,fc0,drop0.1", "sgd")]
    [InlineData("linear", "sgd")]
    public void Learns_a_separable_problem_to_full_accuracy_deterministically(string spec, string optimizer)
    {
        var first = Train(spec, optimizer, 11);
        Assert.Equal(1.0, first.Accuracy);
        var second = Train(spec, optimizer, 11);
        for (int i = 0; i < first.Weights.Length; i++) Assert.Equal(first.Weights[i], second.Weights[i]);
        var other = Train(spec, optimizer, 12);
        Assert.NotEqual(first.Weights[0], other.Weights[0]);
    }
}
