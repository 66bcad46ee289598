using MtkdRl.Gpu.Ilgpu;

namespace MtkdRl.Tests.Ilgpu;

/// <summary>The scalar helpers the kernels rely on, run on the host (same code, exact MathF).</summary>
public class IlgpuNumericsTests
{
    [Fact]
    public void Log1p_is_accurate_from_tiny_to_large_arguments()
    {
        for (double e = -12; e <= 3; e += 0.05)
        {
            float x = (float)Math.Pow(10, e);
            double want = 2 * Math.Atanh(x / (2.0 + x)); // log(1 + x) without rounding 1 + x
            double rel = Math.Abs(LogitRowStats.Log1p(x) - want) / want;
            Assert.True(rel <= 3e-7, $"log1p({x}): relative error {rel:E2}");
        }
    }

    [Fact]
    public void Kl_term_matches_its_definition_without_cancellation()
    {
        const float ps = 0.3f;
        for (double y = -6; y <= 6; y += 0.01)
        {
            float yf = (float)y;
            double pt = ps * Math.Exp(yf);
            double want = ps * F(yf);
            float got = KlTerm.Of(yf, (float)pt, ps);
            double rel = want == 0 ? Math.Abs(got) : Math.Abs(got - want) / want;
            Assert.True(rel <= 1e-6, $"f({yf}): got {got}, want {want}, relative error {rel:E2}");
        }
    }

    /// <summary>f(y) = y e^y - (e^y - 1) in float64, by its series near 0 where the closed form cancels.</summary>
    private static double F(double y)
    {
        if (Math.Abs(y) > 0.5) return y * Math.Exp(y) - (Math.Exp(y) - 1);
        double power = y, factorial = 1, sum = 0;
        for (int n = 2; n < 24; n++)
        {
            power *= y;
            factorial *= n;
            sum += (n - 1) * power / factorial;
        }
        return sum;
    }
}
