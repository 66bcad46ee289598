using MtkdRl.Core;
using MtkdRl.Native;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Native;

/// <summary>
/// mtkd_sgemm (whichever GEMM the context chose), OpenBLAS itself and the built-in blocked GEMM at every SIMD
/// level, against a naive
/// float64 product: every transpose combination, sizes that are 1, prime or not multiples of the tiles,
/// alpha/beta, leading dimensions wider than the matrices, and C's padding left untouched.
/// </summary>
public class NativeGemmTests
{
    public enum Path { Chosen, OpenBlas, BlockedScalar, BlockedAvx2, BlockedAvx512 }

    public static TheoryData<Path> Paths() =>
        new(Path.Chosen, Path.OpenBlas, Path.BlockedScalar, Path.BlockedAvx2, Path.BlockedAvx512);

    private static readonly (int M, int N, int K)[] Sizes =
    [
        (1, 1, 1), (1, 17, 3), (13, 1, 7), (7, 13, 5), (17, 31, 19), (33, 65, 2), (6, 32, 300),
        (97, 101, 103), (100, 515, 37), (211, 67, 520),
    ];

    [Trait("Category", "Slow")]
    [SkippableTheory]
    [MemberData(nameof(Paths))]
    public void Matches_a_float64_product(Path path)
    {
        using var gemm = Create(path);
        var rng = new Random(TestSeeds.Next());
        foreach (var (m, n, k) in Sizes)
        {
            foreach (bool ta in new[] { false, true })
            {
                foreach (bool tb in new[] { false, true })
                {
                    foreach (var (alpha, beta) in new[] { (1f, 0f), (-0.75f, 1f), (2.5f, -0.5f) })
                    {
                        int pad = rng.Next(0, 5);
                        Check(gemm, path, rng, m, n, k, ta, tb, alpha, beta, pad);
                    }
                }
            }
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Paths))]
    public void Beta_zero_ignores_nan_in_c_and_k_zero_only_scales(Path path)
    {
        using var gemm = Create(path);
        var rng = new Random(TestSeeds.Next());
        int m = 19, n = 23, k = 11;
        var a = Random(rng, m * k);
        var b = Random(rng, k * n);
        var c = new float[m * n];
        Array.Fill(c, float.NaN);
        Run(gemm, path, false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);
        Assert.All(c, v => Assert.True(float.IsFinite(v)));

        var c2 = Random(rng, m * n);
        var expect = c2.Select(v => 3f * v).ToArray();
        Run(gemm, path, false, false, m, n, 0, 1f, [], 1, [], n, 3f, c2, n);
        Assert.Equal(expect, c2);
        Array.Fill(c2, float.NaN);
        Run(gemm, path, true, true, m, n, 0, 1f, [], m, [], 1, 0f, c2, n);
        Assert.All(c2, v => Assert.Equal(0f, v));
        Run(gemm, path, false, false, 0, n, k, 1f, [], k, b, n, 0f, [], n);
    }

    [Fact]
    public void The_chosen_gemm_is_described()
    {
        using var gemm = new NativeGemm(NativeSimd.Auto, 1);
        if (!NativeInfo.HasOpenBlas)
        {
            Assert.StartsWith("built-in ", gemm.Implementation);
            Assert.Throws<BackendUnavailableException>(() => gemm.SgemmOpenBlas(false, false, 1, 1, 1, 1f, [1f], 1, [1f], 1, 0f, new float[1], 1));
            return;
        }
        // OpenBLAS unless its kernels are narrower than the context's level; the scalar level always takes it.
        Assert.Matches(gemm.UsesOpenBlas ? @"^OpenBLAS \d+\.\d+\.\d+ \(\w+ kernels\)$" : @"^built-in AVX.* GEMM \(OpenBLAS .* kernels for this CPU", gemm.Implementation);
        using var scalar = new NativeGemm(NativeSimd.Scalar, 1);
        Assert.True(scalar.UsesOpenBlas, scalar.Implementation);
    }

    [Fact]
    public void Bad_arguments_are_named()
    {
        using var gemm = new NativeGemm(NativeSimd.Auto, 1);
        var e = Assert.Throws<MtkdInputException>(() => gemm.Sgemm(false, false, 2, 3, 4, 1f, new float[8], 3, new float[12], 3, 0f, new float[6], 3));
        Assert.Contains("lda = 3 is smaller than the 4 columns of a", e.Message);
        e = Assert.Throws<MtkdInputException>(() => gemm.Sgemm(false, true, 2, 3, 4, 1f, new float[8], 4, new float[11], 4, 0f, new float[6], 3));
        Assert.Contains("b has 11 elements but [3,4] with ldb = 4 needs 12", e.Message);
        e = Assert.Throws<MtkdInputException>(() => gemm.SgemmBlocked(false, false, -1, 3, 4, 1f, [], 4, [], 3, 0f, [], 3));
        Assert.Contains("m=-1", e.Message);

        // The export's own checks, past the wrapper.
        using var ctx = NativeContextHandle.Create(NativeSimd.Auto, 1);
        unsafe
        {
            float x = 0;
            Assert.Equal(MtkdStatus.InvalidArgument, NativeMethods.Sgemm(ctx, 1, 0, 5, 2, 3, 1f, &x, 4, &x, 2, 0f, &x, 2));
            Assert.Equal("mtkd_sgemm: lda = 4 is smaller than the 5 columns of A [k,m]", NativeMethods.LastError());
            Assert.Equal(MtkdStatus.InvalidArgument, NativeMethods.SgemmBlocked(ctx, 0, 0, 2, 2, 2, 1f, null, 2, &x, 2, 0f, &x, 2));
            Assert.Equal("mtkd_sgemm_blocked: a is null", NativeMethods.LastError());
            Assert.Equal(MtkdStatus.InvalidArgument, NativeMethods.Sgemm(new NativeContextHandle(), 0, 0, 1, 1, 1, 1f, &x, 1, &x, 1, 0f, &x, 1));
            Assert.Equal("mtkd_sgemm: ctx is null", NativeMethods.LastError());
        }
    }

    private static void Check(NativeGemm gemm, Path path, Random rng, int m, int n, int k, bool ta, bool tb, float alpha,
        float beta, int pad)
    {
        int aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n;
        int lda = aCols + pad, ldb = bCols + 2 * pad, ldc = n + pad;
        var a = Random(rng, aRows * lda);
        var b = Random(rng, bRows * ldb);
        var c = Random(rng, m * ldc);
        var original = (float[])c.Clone();
        Run(gemm, path, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

        string what = $"{path} m={m} n={n} k={k} ta={ta} tb={tb} alpha={alpha} beta={beta} pad={pad}";
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < ldc; j++)
            {
                int at = i * ldc + j;
                if (j >= n)
                {
                    Assert.True(original[at].Equals(c[at]), $"{what}: C[{i},{j}] is padding and changed");
                    continue;
                }
                double sum = 0, magnitude = 0;
                for (int p = 0; p < k; p++)
                {
                    double x = ta ? a[p * lda + i] : a[i * lda + p];
                    double y = tb ? b[j * ldb + p] : b[p * ldb + j];
                    sum += x * y;
                    magnitude += Math.Abs(x * y);
                }
                double want = alpha * sum + beta * original[at];
                double scale = Math.Abs(alpha) * magnitude + Math.Abs(beta * original[at]);
                double tolerance = 1e-6 * (k + 2) * scale + 1e-30;
                Assert.True(Math.Abs(c[at] - want) <= tolerance,
                    $"{what}: C[{i},{j}] = {c[at]}, float64 product {want} (tolerance {tolerance:E2})");
            }
        }
    }

    private static NativeGemm Create(Path path)
    {
        var level = path switch
        {
            Path.BlockedScalar => NativeSimd.Scalar,
            Path.BlockedAvx2 => NativeSimd.Avx2,
            Path.BlockedAvx512 => NativeSimd.Avx512,
            _ => NativeSimd.Auto,
        };
        Skip.IfNot(NativeInfo.Supports(level), $"this CPU lacks {NativeInfo.Describe(level)}");
        Skip.If(path == Path.OpenBlas && !NativeInfo.HasOpenBlas, "this build has no OpenBLAS");
        // Three threads on any machine, so the tiles are shared unevenly.
        return new NativeGemm(level, 3);
    }

    private static void Run(NativeGemm gemm, Path path, bool ta, bool tb, int m, int n, int k, float alpha, float[] a,
        int lda, float[] b, int ldb, float beta, float[] c, int ldc)
    {
        if (path == Path.Chosen) gemm.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        else if (path == Path.OpenBlas) gemm.SgemmOpenBlas(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        else gemm.SgemmBlocked(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    private static float[] Random(Random rng, int n)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float)(rng.NextDouble() * 2 - 1);
        return v;
    }
}
