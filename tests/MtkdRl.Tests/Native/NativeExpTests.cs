using MtkdRl.Native;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Native;

/// <summary>The kernels' vectorised exp at each SIMD level, against Math.Exp.</summary>
public class NativeExpTests
{
    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void Is_within_two_ulp_over_its_range(NativeSimd level)
    {
        using var ctx = NativeTestContexts.Create(level);
        var rng = new Random(TestSeeds.Next());
        // An odd length, so the masked tail runs too.
        var x = new float[100_003];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = i % 3 == 0 ? (float)(-87.3 * rng.NextDouble()) : (float)(-87.3 + 175.3 * rng.NextDouble());
        }
        var y = new float[x.Length];
        Assert.Equal(MtkdStatus.Ok, NativeMethods.VectorExp(ctx, x, y));
        for (int i = 0; i < x.Length; i++)
        {
            double want = Math.Exp(x[i]);
            double ulp = MathF.BitIncrement((float)want) - (float)want;
            Assert.True(Math.Abs(y[i] - want) <= 2 * ulp, $"{level}: exp({x[i]:R}) = {y[i]:R}, want {want:R}");
        }
    }

    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void Handles_the_edges_of_its_range(NativeSimd level)
    {
        using var ctx = NativeTestContexts.Create(level);
        float[] x = [0f, -0f, float.NegativeInfinity, -1e30f, -103.9f, -87.34f, -87.33f, float.NaN, 88f, 1e-30f, -1e-30f];
        var y = new float[x.Length];
        Assert.Equal(MtkdStatus.Ok, NativeMethods.VectorExp(ctx, x, y));
        Assert.Equal(1f, y[0]);
        Assert.Equal(1f, y[1]);
        // Below ln(FLT_MIN) = -87.3365: exactly zero, never a subnormal.
        Assert.Equal(0f, y[2]);
        Assert.Equal(0f, y[3]);
        Assert.Equal(0f, y[4]);
        Assert.Equal(0f, y[5]);
        Assert.True(float.IsNormal(y[6]));
        Assert.True(float.IsNaN(y[7]));
        Assert.Equal(MathF.Exp(88f), y[8], MathF.Exp(88f) * 2e-7f);
        Assert.Equal(1f, y[9]);
        Assert.Equal(1f, y[10]);
        Assert.Equal(MtkdStatus.Ok, NativeMethods.VectorExp(ctx, ReadOnlySpan<float>.Empty, Span<float>.Empty));
    }
}
