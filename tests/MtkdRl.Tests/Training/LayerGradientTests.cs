using MtkdRl.Core;
using MtkdRl.Tests.Support;
using MtkdRl.Training;
using Xunit.Sdk;

namespace MtkdRl.Tests.Training;

/// <summary>
/// Every layer's forward against a float64 reference and its input and parameter gradients against central
/// differences of that reference (see <see cref="GradientCheck"/>), on small odd shapes.
/// </summary>
public class LayerGradientTests
{
    private static CpuCompute Compute => TrainingTestCompute.Shared;

    private static void RandomizeParameters(Layer layer, Random rng)
    {
        foreach (var p in layer.Parameters)
            for (int i = 0; i < p.Size; i++) p.Value[i] = (float)(rng.NextDouble() * 2 - 1);
    }

    private static void Check(Layer layer, int B, bool training, int seed, float[]? input = null)
    {
        var rng = new Random(seed);
        RandomizeParameters(layer, rng);
        var x = input ?? GradientCheck.Random(rng, B * layer.InputShape.Size);
        GradientCheck.Layer(layer, x, B, training, rng).AssertWithin($"{layer} (B={B}, training={training}, seed {seed})");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Linear_gradients_match_central_differences(bool bias)
    {
        int seed = TestSeeds.Next();
        Check(new Linear("fc", SampleShape.Vector(7), 5, Compute, bias), 3, true, seed);
        // Image input is flattened.
        Check(new Linear("fc", SampleShape.Image(2, 3, 2), 4, Compute, bias), 1, true, seed);
    }

    [Fact]
    public void ReLU_and_Flatten()
    {
        int seed = TestSeeds.Next();
        Check(new ReLU("relu", SampleShape.Image(3, 4, 5), Compute), 2, true, seed);
        Check(new Flatten("flat", SampleShape.Image(3, 4, 5)), 2, true, seed);
    }

    public static TheoryData<int, int, int, int, int, int, int, bool> ConvCases() => new()
    {
        // Cin, H, W, Cout, kernel, stride, padding, bias
        { 1, 5, 5, 2, 3, 1, 1, true },
        { 3, 7, 5, 4, 3, 2, 1, false },
        { 2, 6, 9, 3, 2, 2, 0, true },
        { 2, 8, 7, 2, 5, 3, 2, true },
        { 3, 4, 4, 5, 1, 1, 0, false },
        { 1, 3, 3, 2, 3, 1, 2, true },
    };

    [Theory]
    [MemberData(nameof(ConvCases))]
    public void Conv2d_gradients_match_central_differences(int cin, int h, int w, int cout, int kernel, int stride, int padding, bool bias)
    {
        var conv = new Conv2d("conv", SampleShape.Image(cin, h, w), cout, kernel, Compute, stride, padding, bias);
        Check(conv, 3, true, TestSeeds.Next());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Conv2d_in_several_chunks(int samplesPerChunk)
    {
        var shape = SampleShape.Image(2, 5, 6);
        int patchesPerSample = 2 * 3 * 3 * 5 * 6;
        var conv = new Conv2d("conv", shape, 3, 3, Compute, 1, 1, true, chunkFloats: patchesPerSample * samplesPerChunk);
        Assert.Equal(samplesPerChunk, conv.ChunkSamples);
        Check(conv, 5, true, TestSeeds.Next());
    }

    [Theory]
    [InlineData(2, 2, 0)]
    [InlineData(3, 2, 1)]
    [InlineData(3, 1, 0)]
    [InlineData(2, 3, 1)]
    public void MaxPool2d_gradients_match_central_differences(int kernel, int stride, int padding)
    {
        int seed = TestSeeds.Next();
        var pool = new MaxPool2d("pool", SampleShape.Image(2, 7, 6), kernel, Compute, stride, padding);
        // Distinct values: central differences are only meaningful away from ties.
        Check(pool, 2, true, seed, GradientCheck.Distinct(new Random(seed), 2 * pool.InputShape.Size));
    }

    /// <summary>2x2 stride-2 pooling of even-width rows takes a vectorised path: widths that exercise its vector and overlap handling.</summary>
    [Theory]
    [InlineData(2, 6, 20)]
    [InlineData(3, 5, 10)]
    [InlineData(1, 2, 34)]
    [InlineData(2, 3, 2)]
    public void MaxPool2d_2x2(int channels, int height, int width)
    {
        int seed = TestSeeds.Next();
        var pool = new MaxPool2d("pool", SampleShape.Image(channels, height, width), 2, Compute);
        Check(pool, 3, true, seed, GradientCheck.Distinct(new Random(seed), 3 * pool.InputShape.Size));
    }

    [Theory]
    [InlineData(2, 2, 0)]
    [InlineData(3, 2, 1)]
    [InlineData(3, 1, 1)]
    public void AvgPool2d_gradients_match_central_differences(int kernel, int stride, int padding)
    {
        Check(new AvgPool2d("pool", SampleShape.Image(2, 7, 5), kernel, Compute, stride, padding), 2, true, TestSeeds.Next());
    }

    [Fact]
    public void GlobalAvgPool_gradients_match_central_differences()
    {
        Check(new GlobalAvgPool("gap", SampleShape.Image(3, 4, 5), Compute), 3, true, TestSeeds.Next());
    }

    [Theory]
    [InlineData(true, 4)]
    [InlineData(false, 4)]
    [InlineData(true, 1)]
    public void BatchNorm2d_gradients_match_central_differences(bool training, int B)
    {
        var bn = new BatchNorm("bn", SampleShape.Image(3, 4, 5), Compute);
        var rng = new Random(TestSeeds.Next());
        for (int c = 0; c < 3; c++)
        {
            bn.RunningMean.Value[c] = (float)(rng.NextDouble() - 0.5);
            bn.RunningVar.Value[c] = (float)(0.5 + rng.NextDouble());
        }
        Check(bn, B, training, rng.Next());
    }

    [Theory]
    [InlineData(true, 5)]
    [InlineData(false, 5)]
    [InlineData(true, 1)]
    public void BatchNorm1d_gradients_match_central_differences(bool training, int B)
    {
        var bn = new BatchNorm("bn", SampleShape.Vector(6), Compute);
        Check(bn, B, training, TestSeeds.Next());
    }

    [Fact]
    public void A_wrong_gradient_is_caught()
    {
        var rng = new Random(TestSeeds.Next());
        var fc = new Linear("fc", SampleShape.Vector(6), 4, Compute);
        RandomizeParameters(fc, rng);
        var x = GradientCheck.Random(rng, 3 * 6);
        GradientCheck.Layer(fc, x, 3, true, rng).AssertWithin("untouched");
        // An error of 0.1% of the largest gradient entry, in one entry, is already beyond the tolerance.
        static void Nudge(float[] g) => g[5] += 1e-3f * g.Max(MathF.Abs);
        var report = GradientCheck.Layer(fc, x, 3, true, rng, tamper: (layer, _) => Nudge(((Linear)layer).Weight.Grad));
        Assert.Throws<XunitException>(() => report.AssertWithin("tampered weight gradient"));
        report = GradientCheck.Layer(fc, x, 3, true, rng, tamper: (_, dx) => Nudge(dx));
        Assert.Throws<XunitException>(() => report.AssertWithin("tampered input gradient"));
    }
}
