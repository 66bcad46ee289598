using MtkdRl.Native;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Native;

/// <summary>
/// The catalog's vectorised log1p (jsd's logarithms: the atanh polynomial, with 1 + x halved below -1/2) at each SIMD
/// level, against a double reference: random x over (-1, 1], tiny x of both signs down to the subnormal limit, x
/// just above -1, and both sides of the -1/2 split.
/// </summary>
public class NativeLog1pTests
{
    // log1p in double: 1 + x is exact for a float x of magnitude 2^-29 or more; below, the series' first terms.
    private static double Reference(float x) => Math.Abs(x) < 1e-9 ? x - 0.5 * (double)x * x : Math.Log(1.0 + x);

    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void Is_within_three_ulp_over_minus_one_to_one(NativeSimd level)
    {
        using var ctx = NativeTestContexts.Create(level);
        var rng = new Random(TestSeeds.Next());
        var xs = new List<float>();
        for (int i = 0; i < 60_001; i++) xs.Add(MathF.BitDecrement(1f) * (float)(2 * rng.NextDouble() - 1));  // odd length: the masked tail runs
        for (int e = -124; e <= 0; e++)  // s = x / (2 + x) stays normal (the kernels flush subnormals)
            foreach (float m in new[] { 1f, 1.37f, 1.99f })
            {
                xs.Add(MathF.ScaleB(m, e) * (e == 0 ? 0.5f : 1f));
                xs.Add(-MathF.ScaleB(m, e) * (e == 0 ? 0.5f : 1f));
            }
        for (int k = 1; k <= 24; k++) xs.Add(-1f + MathF.ScaleB(1f, -k));
        foreach (float x in new[] { -0.5f, MathF.BitDecrement(-0.5f), MathF.BitIncrement(-0.5f), 1f, 0f })
            xs.Add(x);
        var x1 = xs.ToArray();
        var y = new float[x1.Length];
        Assert.Equal(MtkdStatus.Ok, NativeMethods.VectorLog1p(ctx, x1, y));
        for (int i = 0; i < x1.Length; i++)
        {
            double want = Reference(x1[i]);
            double ulp = Math.Abs(MathF.BitIncrement(Math.Abs((float)want)) - Math.Abs((float)want));
            Assert.True(Math.Abs(y[i] - want) <= 3 * ulp, $"{level}: log1p({x1[i]:R}) = {y[i]:R}, want {want:R}");
        }
    }

    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void Handles_the_edges_of_its_range(NativeSimd level)
    {
        using var ctx = NativeTestContexts.Create(level);
        float[] x = [float.NaN, 0f, -0f, 1f];
        var y = new float[x.Length];
        Assert.Equal(MtkdStatus.Ok, NativeMethods.VectorLog1p(ctx, x, y));
        Assert.True(float.IsNaN(y[0]));
        Assert.Equal(0f, y[1]);
        Assert.Equal(0f, y[2]);
        Assert.Equal(MathF.Log(2f), y[3], 2e-7f);
        Assert.Equal(MtkdStatus.Ok, NativeMethods.VectorLog1p(ctx, ReadOnlySpan<float>.Empty, Span<float>.Empty));
    }

    /// <summary>The exported building blocks check their arguments the same way: one line naming the function and
    /// the problem, InvalidArgument, nothing written.</summary>
    [Fact]
    public unsafe void Building_blocks_refuse_a_negative_length_or_a_null_pointer()
    {
        using var ctx = NativeTestContexts.Create(NativeSimd.Scalar);
        float x = 0.5f, y = 7f;
        foreach (var (name, call) in new (string, Func<long, IntPtr, IntPtr, MtkdStatus>)[]
                 {
                     ("mtkd_vector_exp", (n, px, py) => NativeMethods.VectorExp(ctx, n, (float*)px, (float*)py)),
                     ("mtkd_vector_log1p", (n, px, py) => NativeMethods.VectorLog1p(ctx, n, (float*)px, (float*)py)),
                     ("mtkd_vector_expm1", (n, px, py) => NativeMethods.VectorExpm1(ctx, n, (float*)px, (float*)py)),
                 })
        {
            Assert.Equal(MtkdStatus.InvalidArgument, call(-1, (IntPtr)(&x), (IntPtr)(&y)));
            Assert.Contains(name, NativeMethods.LastError());
            Assert.Contains("n = -1", NativeMethods.LastError());
            Assert.Equal(MtkdStatus.InvalidArgument, call(1, IntPtr.Zero, (IntPtr)(&y)));
            Assert.Contains("x is null", NativeMethods.LastError());
            Assert.Equal(MtkdStatus.InvalidArgument, call(1, (IntPtr)(&x), IntPtr.Zero));
            Assert.Contains("y is null", NativeMethods.LastError());
            Assert.DoesNotContain('\n', NativeMethods.LastError());
            Assert.Equal(7f, y);
            Assert.Equal(MtkdStatus.Ok, call(0, IntPtr.Zero, IntPtr.Zero));
        }
    }
}
