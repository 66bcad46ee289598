using MtkdRl.Native;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Native;

/// <summary>
/// The catalog's vectorised expm1 (jsd's expm1(-d): one exponential of |x|, then e^|x| - 1 or -(e^|x| - 1) / e^|x|)
/// at each SIMD level, against a double reference: random x over [-80, 80], tiny x of both signs down to 2^-124 (the
/// relative precision the shift correction of jsd needs), both sides of every power-of-two step of the reduction
/// near 0, and the ends of the range. The bound is 5 ulp: -(e^|x| - 1) / e^|x| rounds e^|x| - 1, the reciprocal and the
/// product, and a sweep of 7.5 million x over [-80, 80] measured at worst 3.7 ulp (scalar), 4.3 (AVX2) and 4.5
/// (AVX-512), all near x = -0.06 to -0.13, where a bound of 4 failed on the rare seed that drew one of them.
/// </summary>
public class NativeExpm1Tests
{
    // expm1 in double: e^x - 1 is exact enough for |x| >= 1e-5 (cancellation 1e5, double's 1e-16 leaves 1e-11);
    // below, the series to x^4.
    private static double Reference(float x)
    {
        double v = x;
        return Math.Abs(v) < 1e-5 ? v * (1 + v * (0.5 + v * (1.0 / 6 + v / 24))) : Math.Exp(v) - 1;
    }

    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void Is_within_five_ulp_over_minus_eighty_to_eighty(NativeSimd level)
    {
        using var ctx = NativeTestContexts.Create(level);
        var rng = new Random(TestSeeds.Next());
        var xs = new List<float>();
        for (int i = 0; i < 40_001; i++) xs.Add((float)(160 * rng.NextDouble() - 80));  // odd length: the masked tail runs
        for (int i = 0; i < 20_000; i++) xs.Add((float)(4 * rng.NextDouble() - 2));
        for (int e = -124; e <= 5; e++)  // up to 1.99 * 32
            foreach (float m in new[] { 1f, 1.37f, 1.99f })
            {
                xs.Add(MathF.ScaleB(m, e));
                xs.Add(-MathF.ScaleB(m, e));
            }
        for (int n = -4; n <= 4; n++)  // where the reduction's n steps: x = (n +- 1/2) ln 2
            foreach (float x in new[] { (float)((n + 0.5) * Math.Log(2)), (float)((n - 0.5) * Math.Log(2)) })
            {
                xs.Add(MathF.BitDecrement(x));
                xs.Add(x);
                xs.Add(MathF.BitIncrement(x));
            }
        xs.AddRange([80f, -80f, 0f]);
        var x1 = xs.ToArray();
        var y = new float[x1.Length];
        Assert.Equal(MtkdStatus.Ok, NativeMethods.VectorExpm1(ctx, x1, y));
        double worst = 0;
        for (int i = 0; i < x1.Length; i++)
        {
            double want = Reference(x1[i]);
            float w = (float)want;
            double ulp = Math.Abs(MathF.BitIncrement(Math.Abs(w)) - Math.Abs(w));
            double err = Math.Abs(y[i] - want) / ulp;
            worst = Math.Max(worst, err);
            Assert.True(err <= 5, $"{level}: expm1({x1[i]:R}) = {y[i]:R}, want {want:R} ({err:F2} ulp)");
        }
        Assert.True(worst > 0, "every value exact: the comparison is not reaching the kernel");
    }

    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void Handles_the_edges_of_its_range(NativeSimd level)
    {
        using var ctx = NativeTestContexts.Create(level);
        float[] x = [float.NaN, 0f, 200f, -200f];
        var y = new float[x.Length];
        Assert.Equal(MtkdStatus.Ok, NativeMethods.VectorExpm1(ctx, x, y));
        Assert.True(float.IsNaN(y[0]));
        Assert.Equal(0f, y[1]);
        Assert.Equal(MathF.Exp(80f) - 1, y[2], MathF.Exp(80f) * 4e-7f);  // taken at 80, as documented
        Assert.Equal(-1f, y[3]);
        Assert.Equal(MtkdStatus.Ok, NativeMethods.VectorExpm1(ctx, ReadOnlySpan<float>.Empty, Span<float>.Empty));
    }
}
