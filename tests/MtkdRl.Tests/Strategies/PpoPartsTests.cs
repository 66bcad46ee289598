using MtkdRl.Core;
using MtkdRl.Strategies;
using Xunit;

namespace MtkdRl.Tests.Strategies;

/// <summary>The PPO agent's parts on their own, against float64 references.</summary>
public class PpoPartsTests
{
    [Fact]
    public void Flat_adam_follows_the_bias_corrected_formula()
    {
        const int n = 37;
        const double lr = 3e-3, b1 = 0.9, b2 = 0.999, eps = 1e-5;
        var random = new Random(4);
        var theta = Enumerable.Range(0, n).Select(_ => (float)random.NextGaussian()).ToArray();
        var reference = theta.Select(v => (double)v).ToArray();
        var m = new double[n];
        var v = new double[n];
        var adam = new FlatAdam(n, (float)b1, (float)b2, (float)eps);
        for (int t = 1; t <= 6; t++)
        {
            var grad = Enumerable.Range(0, n).Select(_ => (float)(0.1 * random.NextGaussian())).ToArray();
            adam.Step(theta, grad, (float)lr);
            for (int i = 0; i < n; i++)
            {
                m[i] = b1 * m[i] + (1 - b1) * grad[i];
                v[i] = b2 * v[i] + (1 - b2) * grad[i] * grad[i];
                reference[i] -= lr * (m[i] / (1 - Math.Pow(b1, t))) / (Math.Sqrt(v[i] / (1 - Math.Pow(b2, t))) + eps);
            }
        }
        Assert.Equal(6, adam.Steps);
        for (int i = 0; i < n; i++) Assert.Equal(reference[i], theta[i], 5);
    }

    [Fact]
    public void Standard_normal_draws_have_mean_zero_unit_variance_and_repeat_with_the_seed()
    {
        var z = new float[200_001]; // odd: the last pair's second value is dropped
        StandardNormal.Fill(new Rng(8), z);
        double mean = z.Average(x => (double)x);
        double variance = z.Sum(x => (x - mean) * (x - mean)) / (z.Length - 1);
        double fourth = z.Average(x => Math.Pow(x - mean, 4)) / (variance * variance);
        Assert.InRange(mean, -0.01, 0.01);
        Assert.InRange(variance, 0.98, 1.02);
        Assert.InRange(fourth, 2.9, 3.1); // a normal's kurtosis
        var again = new float[z.Length];
        StandardNormal.Fill(new Rng(8), again);
        Assert.Equal(z, again);
    }

    [Fact]
    public void Running_normaliser_merged_by_batches_equals_the_moments_of_every_counted_finite_value()
    {
        var random = new Random(6);
        var normaliser = new RunningNormaliser(1);
        var all = new List<double>();
        const int rows = 9, perRow = 3;
        var scratch = new float[rows * perRow];
        for (int batch = 0; batch < 5; batch++)
        {
            var values = Enumerable.Range(0, rows * perRow).Select(_ => (float)(100 + 3 * random.NextGaussian())).ToArray();
            int[] labels = batch % 2 == 0 ? [] : [0, -1, 2, 1, 1, -1, 0, 0, 3];
            if (batch == 3) values[4] = float.NaN;
            normaliser.Merge(0, values, labels, rows, perRow, labels.Length == 0, scratch);
            for (int r = 0; r < rows; r++)
            {
                if (labels.Length > 0 && labels[r] < 0) continue;
                for (int k = 0; k < perRow; k++)
                    if (float.IsFinite(values[r * perRow + k])) all.Add(values[r * perRow + k]);
            }
        }
        double mean = all.Average();
        double variance = all.Sum(x => (x - mean) * (x - mean)) / (all.Count - 1);
        var (gotMean, gotVariance) = normaliser.Moments(0);
        Assert.Equal(mean, gotMean, 4);
        Assert.Equal(variance, gotVariance, 3);
        var z = new float[3];
        normaliser.Standardise(0, [(float)mean, float.NaN, (float)(mean + 100 * Math.Sqrt(variance))], 5f, z);
        Assert.Equal([0f, 0f, 5f], z.Select(v => MathF.Round(v, 3)).ToArray());
    }
}
