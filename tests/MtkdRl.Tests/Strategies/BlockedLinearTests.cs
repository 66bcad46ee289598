using MtkdRl.Strategies;

namespace MtkdRl.Tests.Strategies;

/// <summary>The paper agent's blocked first layer against a float64 reference, on shapes that exercise every tail.</summary>
public class BlockedLinearTests
{
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 1 }, { 3, 5, 1 }, { 4, 8, 2 }, { 7, 37, 5 }, { 13, 97, 3 }, { 128, 1758, 128 }, { 9, 16, 129 },
    };

    private static float[] Random(Random rng, int n, double zeroFraction = 0)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = rng.NextDouble() < zeroFraction ? 0f : (float)(2 * rng.NextDouble() - 1);
        return v;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_matches_float64(int rows, int width, int outputs)
    {
        var rng = new Random(rows * 1000 + width * 10 + outputs);
        var x = Random(rng, rows * width);
        var w = Random(rng, outputs * width);
        var y = new float[rows * outputs];
        BlockedLinear.Forward(x, rows, width, w, outputs, y);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < outputs; j++)
                AssertSum(y[r * outputs + j], 0, Enumerable.Range(0, width).Select(s => (double)x[r * width + s] * w[j * width + s]), $"y[{r},{j}]");
    }

    /// <summary>got against start + sum of terms in float64, to float rounding of the terms' absolute sum.</summary>
    private static void AssertSum(float got, double start, IEnumerable<double> terms, string what)
    {
        double expected = start, magnitude = Math.Abs(start);
        foreach (double t in terms) { expected += t; magnitude += Math.Abs(t); }
        Assert.True(Math.Abs(got - expected) <= 1e-6 * magnitude + 1e-7, $"{what} = {got}, float64 {expected}");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Weight_gradient_matches_float64_and_adds_to_what_is_there(int rows, int width, int outputs)
    {
        var rng = new Random(rows * 7 + width * 3 + outputs);
        var x = Random(rng, rows * width);
        // ReLU zeroes about half of dy; the blocked path must skip them without losing the others.
        var dy = Random(rng, rows * outputs, zeroFraction: 0.5);
        var before = Random(rng, outputs * width);
        var g = (float[])before.Clone();
        BlockedLinear.AccumulateWeightGradient(x, rows, width, dy, outputs, g);
        for (int j = 0; j < outputs; j++)
            for (int s = 0; s < width; s++)
                AssertSum(g[j * width + s], before[j * width + s], Enumerable.Range(0, rows).Select(r => (double)dy[r * outputs + j] * x[r * width + s]), $"g[{j},{s}]");
    }

    [Fact]
    public void Short_buffers_are_refused()
    {
        Assert.Throws<ArgumentException>(() => BlockedLinear.Forward(new float[10], 2, 6, new float[6], 1, new float[2]));
        Assert.Throws<ArgumentException>(() => BlockedLinear.AccumulateWeightGradient(new float[12], 2, 6, new float[1], 1, new float[6]));
    }
}
