using MtkdRl.Core;
using MtkdRl.Tests.Support;
using MtkdRl.Training;

namespace MtkdRl.Tests.Training;

/// <summary>
/// The layers a segmentation network adds: bilinear 2x upsampling (forward against a float64 reference and a
/// hand-computed case, gradients against central differences) and channel concatenation (exact copy and split,
/// gradients of L = sum(R * y) against central differences).
/// </summary>
public class SegmentationLayerTests
{
    private static CpuCompute Compute => TrainingTestCompute.Shared;

    [Theory]
    [InlineData(1, 1, 1, 1)]
    [InlineData(2, 3, 2, 3)]
    [InlineData(3, 2, 5, 4)]
    [InlineData(2, 1, 4, 1)]
    public void Upsample2x_gradients_match_central_differences(int B, int channels, int h, int w)
    {
        int seed = TestSeeds.Next();
        var layer = new Upsample2x("up", SampleShape.Image(channels, h, w), Compute);
        Assert.Equal(SampleShape.Image(channels, 2 * h, 2 * w), layer.OutputShape);
        var rng = new Random(seed);
        var x = GradientCheck.Random(rng, B * layer.InputShape.Size);
        GradientCheck.Layer(layer, x, B, training: true, rng).AssertWithin($"{layer} (B={B}, seed {seed})");
    }

    [Fact]
    public void Upsample2x_of_a_2x2_image_matches_the_hand_computed_grid()
    {
        // Half-pixel centres: the outer rows and columns copy the edge, the inner ones mix 3:1.
        var layer = new Upsample2x("up", SampleShape.Image(1, 2, 2), Compute);
        var y = layer.Forward([1, 2, 3, 4], 1, training: false);
        float[] want =
        [
            1.00f, 1.25f, 1.75f, 2.00f,
            1.50f, 1.75f, 2.25f, 2.50f,
            2.50f, 2.75f, 3.25f, 3.50f,
            3.00f, 3.25f, 3.75f, 4.00f,
        ];
        Assert.Equal(want, y.Take(16).ToArray());
    }

    [Fact]
    public void Upsample2x_catches_a_wrong_gradient()
    {
        var layer = new Upsample2x("up", SampleShape.Image(2, 3, 3), Compute);
        var rng = new Random(TestSeeds.Next());
        var x = GradientCheck.Random(rng, 2 * layer.InputShape.Size);
        var report = GradientCheck.Layer(layer, x, 2, true, rng, tamper: (_, dx) => dx[4] += 0.05f);
        Assert.True(report.Input > GradientCheck.GradientTolerance, $"tampered gradient passed (error {report.Input:E2})");
    }

    [Fact]
    public void ChannelConcat_copies_a_then_b_and_splits_the_gradient()
    {
        int seed = TestSeeds.Next();
        var rng = new Random(seed);
        int B = 3;
        var sa = SampleShape.Image(2, 3, 4);
        var sb = SampleShape.Image(3, 3, 4);
        var cat = new ChannelConcat("cat", sa, sb);
        Assert.Equal(SampleShape.Image(5, 3, 4), cat.OutputShape);
        var a = GradientCheck.Random(rng, B * sa.Size);
        var b = GradientCheck.Random(rng, B * sb.Size);
        var y = cat.Forward(a, b, B);
        for (int s = 0; s < B; s++)
            for (int c = 0; c < 5; c++)
                for (int i = 0; i < sa.Plane; i++)
                {
                    float want = c < 2 ? a[(s * 2 + c) * sa.Plane + i] : b[(s * 3 + c - 2) * sb.Plane + i];
                    Assert.Equal(want, y[(s * 5 + c) * sa.Plane + i]);
                }

        // L = sum(R * concat(a, b)) in float64; its central differences against the split gradient.
        var r = GradientCheck.Random(rng, B * cat.OutputShape.Size);
        var (da, db) = cat.Backward(r);
        var ad = a.Select(v => (double)v).ToArray();
        var bd = b.Select(v => (double)v).ToArray();
        double Loss()
        {
            double sum = 0;
            for (int s = 0; s < B; s++)
                for (int c = 0; c < 5; c++)
                    for (int i = 0; i < sa.Plane; i++)
                        sum += r[(s * 5 + c) * sa.Plane + i] * (c < 2 ? ad[(s * 2 + c) * sa.Plane + i] : bd[(s * 3 + c - 2) * sb.Plane + i]);
            return sum;
        }
        Assert.True(GradientCheck.Error(da.AsSpan(0, ad.Length), ad, Loss) <= GradientCheck.GradientTolerance, $"seed {seed}: da");
        Assert.True(GradientCheck.Error(db.AsSpan(0, bd.Length), bd, Loss) <= GradientCheck.GradientTolerance, $"seed {seed}: db");
    }

    [Fact]
    public void ChannelConcat_refuses_maps_of_different_sizes()
    {
        var e = Assert.Throws<MtkdInputException>(() => new ChannelConcat("cat", SampleShape.Image(2, 4, 4), SampleShape.Image(2, 4, 3)));
        Assert.Contains("differ in height or width", e.Message);
    }
}
