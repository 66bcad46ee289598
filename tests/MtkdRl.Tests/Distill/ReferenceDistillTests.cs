using MtkdRl.Core.Distill;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Distill;

/// <summary>The oracle itself: finite differences for its gradients, closed forms for its statistics.</summary>
public class ReferenceDistillTests
{
    private static readonly DistillHyper Hyper = new(Temperature: 3f, ACe: 0.7f, AKd: 1.3f, Beta: 5f, CosEps: 1e-8f);

    [Theory]
    [InlineData(3, 5, new[] { 3, 4 })]
    [InlineData(4, 7, new[] { 1, 6, 2 })]
    [InlineData(1, 2, new[] { 5 })]
    public void Gradients_match_central_finite_differences(int b, int c, int[] d)
    {
        int seed = TestSeeds.Next();
        var shape = new DistillShape(b, c, d);
        var x = ReferenceDistill.Inputs64.From(DistillInputFactory.Create(shape, seed, ignoredFraction: 0.3));
        var g = ReferenceDistill.ComputeGrads(x, ReferenceDistill.ComputeStats(x, Hyper), Hyper);

        CheckAgainstFiniteDifferences("dzs", x.Zs, g.Dzs, x, Hyper, seed);
        CheckAgainstFiniteDifferences("dfs", x.Fs, g.Dfs, x, Hyper, seed);
    }

    /// <summary>Every analytic derivative of L against its central difference.</summary>
    internal static void CheckAgainstFiniteDifferences(string name, double[] param, double[] analytic, ReferenceDistill.Inputs64 x,
        DistillHyper hyper, int seed)
    {
        for (int i = 0; i < param.Length; i++)
        {
            double saved = param[i];
            double step = 1e-5 * Math.Max(1.0, Math.Abs(saved));
            param[i] = saved + step;
            double up = ReferenceDistill.Loss(x, hyper);
            param[i] = saved - step;
            double down = ReferenceDistill.Loss(x, hyper);
            param[i] = saved;
            double fd = (up - down) / (2 * step);
            double tol = 1e-7 + 1e-5 * Math.Abs(fd);
            Assert.True(Math.Abs(fd - analytic[i]) <= tol,
                $"{hyper.Loss} {name}[{i}]: analytic {analytic[i]:G9} vs finite difference {fd:G9} (seed {seed})");
        }
    }

    [Fact]
    public void Ignored_rows_get_zero_loss_and_zero_gradient_and_do_not_count_in_the_mean()
    {
        var shape = new DistillShape(4, 6, new[] { 3, 2 });
        var x = DistillInputFactory.Create(shape, TestSeeds.Next(), ignoredFraction: 0);
        var all = ReferenceDistill.Inputs64.From(x);
        var g = ReferenceDistill.ComputeGrads(all, ReferenceDistill.ComputeStats(all, Hyper), Hyper);

        x.Y[1] = -1;
        x.Y[3] = -1;
        var some = ReferenceDistill.Inputs64.From(x);
        var gi = ReferenceDistill.ComputeGrads(some, ReferenceDistill.ComputeStats(some, Hyper), Hyper);

        Assert.Equal(0.0, gi.RowLoss[1]);
        Assert.All(gi.Dzs.AsSpan(3 * 6, 6).ToArray(), v => Assert.Equal(0.0, v));
        Assert.All(gi.Dfs.AsSpan(1 * 5, 5).ToArray(), v => Assert.Equal(0.0, v));
        // With B' = 2 instead of 4, a counted row's share doubles.
        Assert.Equal(2 * g.RowLoss[0], gi.RowLoss[0], 12);
    }

    [Fact]
    public void All_rows_ignored_gives_zero_loss()
    {
        var shape = new DistillShape(3, 4, new[] { 2 });
        var x = DistillInputFactory.Create(shape, TestSeeds.Next(), ignoredFraction: 1.0);
        Assert.All(x.Y, v => Assert.Equal(-1, v));
        var x64 = ReferenceDistill.Inputs64.From(x);
        var g = ReferenceDistill.ComputeGrads(x64, ReferenceDistill.ComputeStats(x64, Hyper), Hyper);
        Assert.Equal(0.0, g.Loss);
        Assert.All(g.Dzs, v => Assert.Equal(0.0, v));
    }

    [Fact]
    public void Statistics_match_closed_forms()
    {
        // Row 0: teacher = student, uniform logits, identical features. Row 1: one-hot-ish teacher.
        var shape = new DistillShape(2, 4, new[] { 3 });
        var x = new DistillInputs(shape);
        x.Y[0] = 2; x.Y[1] = 1;
        for (int c = 0; c < 4; c++) { x.Zs[c] = 0.5f; x.Zt[c] = 0.5f; }
        float[] peaked = [0f, 10f, 0f, 0f];
        peaked.CopyTo(x.Zt, 4);
        float[] f = [1f, -2f, 0.5f];
        f.CopyTo(x.Fs, 0); f.CopyTo(x.Ft, 0);
        float[] a = [1f, 0f, 0f], bb = [0f, 1f, 0f];
        a.CopyTo(x.Fs, 3); bb.CopyTo(x.Ft, 3);
        var st = ReferenceDistill.ComputeStats(ReferenceDistill.Inputs64.From(x), Hyper);

        Assert.Equal(0.0, st.Kl[0], 12);
        Assert.Equal(Math.Log(4), st.Ht[0], 12);
        Assert.Equal(0.25, st.Conf[0], 12);
        Assert.Equal(Math.Log(4), st.CeT[0], 12);
        Assert.Equal(Math.Log(4), st.CeS[0], 12);
        Assert.Equal(0.5 + Math.Log(4), st.LseS1[0], 12);
        Assert.Equal(0.5 / 3 + Math.Log(4), st.LseST[0], 12);
        Assert.Equal(1.0, st.Cos[0], 6);
        Assert.Equal(0.0, st.Mse[0], 12);
        Assert.Equal(1.0, st.Hit[1]);
        Assert.Equal(0.0, st.Cos[1], 12);
        Assert.Equal(2.0 / 3.0, st.Mse[1], 12);
        double z = Math.Exp(10) + 3;
        Assert.Equal(Math.Exp(10) / z, st.Conf[1], 12);
        Assert.Equal(Math.Log(z) - 10, st.CeT[1], 12);
        // KL(pt || uniform) at T: T^2 * (log C - H(pt^T)).
        double[] pT = peaked.Select(v => Math.Exp(v / 3.0)).ToArray();
        double sT = pT.Sum();
        double hT = -pT.Sum(p => p / sT * Math.Log(p / sT));
        Assert.Equal(9 * (Math.Log(4) - hT), st.Kl[1], 10);
    }

    [Fact]
    public void Reference_backend_agrees_with_itself_through_the_session_contract()
    {
        using var backend = new ReferenceBackend();
        var shape = new DistillShape(5, 7, new[] { 3, 8 });
        var results = DistillAgreement.Check(backend, DistillInputFactory.Create(shape, TestSeeds.Next()), Hyper, "reference");
        Assert.All(results, r => Assert.True(r.RelativeError <= 1e-6, r.ToString()));
    }
}
