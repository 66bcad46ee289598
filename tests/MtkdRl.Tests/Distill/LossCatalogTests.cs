using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Distill;

/// <summary>
/// The float64 reference of every catalog loss: gradients by central differences, ignored rows, closed forms, and
/// the names round-tripping through the parser. Cases come from <see cref="DistillLossCatalog"/>, so a new entry is
/// tested here without new test code.
/// </summary>
public class LossCatalogTests
{
    public static TheoryData<string> Losses()
    {
        var data = new TheoryData<string>();
        foreach (var loss in DistillLossCatalog.AllCombinations()) data.Add(Name(loss));
        return data;
    }

    /// <summary>The loss as the two command-line options write it, joined by '+'.</summary>
    public static string Name(DistillLoss loss) => $"{loss.KdName}+{loss.FeatureName}";

    public static DistillLoss FromName(string name)
    {
        int plus = name.LastIndexOf('+');
        return DistillLossCatalog.Parse(name[..plus], name[(plus + 1)..]);
    }

    private static DistillHyper HyperWith(DistillLoss loss) => new(Temperature: 3f, ACe: 0.7f, AKd: 1.3f, Beta: 5f, CosEps: 1e-8f, Loss: loss);

    [Theory]
    [MemberData(nameof(Losses))]
    public void Names_round_trip_through_the_parser(string name)
    {
        var loss = FromName(name);
        Assert.Equal(name, Name(loss));
        Assert.Equal(loss, DistillLossCatalog.Parse(loss.KdName, loss.FeatureName));
    }

    [Theory]
    [MemberData(nameof(Losses))]
    public void Gradients_match_central_finite_differences(string name)
    {
        var hyper = HyperWith(FromName(name));
        foreach (var shape in new[] { new DistillShape(4, 7, [1, 6, 2]), new DistillShape(3, 2, [5]) })
        {
            int seed = TestSeeds.Next();
            var x = ReferenceDistill.Inputs64.From(DistillInputFactory.Create(shape, seed, ignoredFraction: 0.3));
            KeepOffTheCosineKink(x);
            var g = ReferenceDistill.ComputeGrads(x, ReferenceDistill.ComputeStats(x, hyper), hyper);
            ReferenceDistillTests.CheckAgainstFiniteDifferences("dzs", x.Zs, g.Dzs, x, hyper, seed);
            ReferenceDistillTests.CheckAgainstFiniteDifferences("dfs", x.Fs, g.Dfs, x, hyper, seed);
        }
    }

    /// <summary>
    /// Central differences need the loss smooth within a step (1e-5) of each input. A one-wide slice's cosine is the
    /// sign of a times that of t, turning over within cos_eps / |t| of a = 0 with a slope of about cos_eps / (a^2 |t|)
    /// beyond: a student feature within a step of 0 made the difference quotient miss the derivative by 16 %, and one
    /// at 1e-3 still by 1e-4 (the quotient's error goes as (step / a)^2). The student features of one-wide slices are
    /// kept at least 1e-2 from 0, where that error is 1e-6.
    /// </summary>
    private static void KeepOffTheCosineKink(ReferenceDistill.Inputs64 x)
    {
        var shape = x.Shape;
        for (int b = 0; b < shape.B; b++)
            for (int k = 0; k < shape.K; k++)
            {
                if (shape.D[k] != 1) continue;
                int i = b * shape.F + shape.FeatureOffset[k];
                if (Math.Abs(x.Fs[i]) < 1e-2) x.Fs[i] = x.Fs[i] < 0 ? -1e-2 : 1e-2;
            }
    }

    [Theory]
    [MemberData(nameof(Losses))]
    public void Identical_teacher_and_student_give_zero_and_ignored_rows_give_zero_gradients(string name)
    {
        var hyper = HyperWith(FromName(name));
        var shape = new DistillShape(4, 6, [3, 2]);
        var x = DistillInputFactory.Create(shape, TestSeeds.Next(), ignoredFraction: 0);
        x.Y[2] = -1;
        for (int k = 0; k < shape.K; k++) Array.Copy(x.Zs, 0, x.Zt, k * shape.B * shape.C, shape.B * shape.C);
        Array.Copy(x.Ft, x.Fs, x.Fs.Length);
        var x64 = ReferenceDistill.Inputs64.From(x);
        var st = ReferenceDistill.ComputeStats(x64, hyper);
        Assert.All(st.Kl, v => Assert.Equal(0.0, v, 12));
        // Cosine with fs = ft is 1 - |f|^2 / (|f|^2 + eps) = eps / (|f|^2 + eps): not 0 where |f| is small.
        for (int b = 0; b < shape.B; b++)
            for (int k = 0; k < shape.K; k++)
            {
                double ss = 0;
                foreach (var f in x.Fs.AsSpan(b * shape.F + shape.FeatureOffset[k], shape.D[k])) ss += (double)f * f;
                double expected = hyper.Loss.Feature == FeatureLoss.Cosine ? hyper.CosEps / (ss + hyper.CosEps) : 0.0;
                Assert.Equal(expected, st.Mse[b * shape.K + k], 1e-12);
            }

        var g = ReferenceDistill.ComputeGrads(x64, st, hyper);
        Assert.Equal(0.0, g.RowLoss[2]);
        Assert.All(g.Dzs.AsSpan(2 * shape.C, shape.C).ToArray(), v => Assert.Equal(0.0, v));
        Assert.All(g.Dfs.AsSpan(2 * shape.F, shape.F).ToArray(), v => Assert.Equal(0.0, v));
    }

    [Fact]
    public void Reverse_kl_is_kl_with_the_roles_swapped_and_jsd_at_one_half_is_symmetric()
    {
        var shape = new DistillShape(3, 9, [2]);
        var x = DistillInputFactory.Create(shape, TestSeeds.Next(), ignoredFraction: 0);
        var swapped = DistillInputFactory.Create(shape, 0, ignoredFraction: 0);
        Array.Copy(x.Y, swapped.Y, shape.B);
        Array.Copy(x.Zs, swapped.Zt, x.Zs.Length);
        Array.Copy(x.Zt, swapped.Zs, x.Zs.Length);
        var a = ReferenceDistill.Inputs64.From(x);
        var b = ReferenceDistill.Inputs64.From(swapped);
        var kl = HyperWith(DistillLoss.Default);
        var reverse = HyperWith(DistillLossCatalog.ParseDivergence("reverse-kl"));
        var jsd = HyperWith(DistillLossCatalog.ParseDivergence("jsd:0.5"));
        for (int r = 0; r < shape.B; r++)
        {
            Assert.Equal(ReferenceDistill.ComputeStats(b, kl).Kl[r], ReferenceDistill.ComputeStats(a, reverse).Kl[r], 12);
            Assert.Equal(ReferenceDistill.ComputeStats(b, jsd).Kl[r], ReferenceDistill.ComputeStats(a, jsd).Kl[r], 12);
            Assert.NotEqual(ReferenceDistill.ComputeStats(a, kl).Kl[r], ReferenceDistill.ComputeStats(a, reverse).Kl[r], 6);
        }
    }

    [Fact]
    public void Dkd_decouples_kl_into_its_target_and_non_target_parts()
    {
        // Zhao et al. (2022), eq. 5: KL = TCKD + (1 - pt_target) NCKD. DKD is linear in (alpha, beta), so
        // TCKD = D(2,1) - D(1,1) and NCKD = D(1,2) - D(1,1).
        var shape = new DistillShape(5, 11, [2]);
        var x = DistillInputFactory.Create(shape, TestSeeds.Next(), ignoredFraction: 0);
        x.Y[4] = -1;
        var x64 = ReferenceDistill.Inputs64.From(x);
        double[] Dkd(string p) => ReferenceDistill.ComputeStats(x64, HyperWith(DistillLossCatalog.ParseDivergence("dkd:" + p))).Kl;
        var (d11, d21, d12) = (Dkd("1,1"), Dkd("alpha=2,beta=1"), Dkd("beta=2,alpha=1"));
        var st = ReferenceDistill.ComputeStats(x64, HyperWith(DistillLoss.Default));
        for (int b = 0; b < 4; b++)
        {
            int y = x.Y[b];
            double ptTarget = Math.Exp(x64.Zt[b * shape.C + y] / 3.0 - st.LseT[b]);
            Assert.Equal(st.Kl[b], d21[b] - d11[b] + (1 - ptTarget) * (d12[b] - d11[b]), 9);
        }
        Assert.Equal(0.0, d11[4]);
    }

    [Fact]
    public void Cosine_and_smooth_l1_match_their_closed_forms()
    {
        var shape = new DistillShape(1, 3, [3]);
        var x = new DistillInputs(shape);
        x.Y[0] = 0;
        float[] fs = [1f, 0f, 3f], ft = [0f, 2f, 0.5f];
        fs.CopyTo(x.Fs, 0); ft.CopyTo(x.Ft, 0);
        var x64 = ReferenceDistill.Inputs64.From(x);
        double cos = 1.5 / (Math.Sqrt(10) * Math.Sqrt(4.25) + 1e-8);
        Assert.Equal(1 - cos, ReferenceDistill.ComputeStats(x64, HyperWith(new DistillLoss() with { Feature = FeatureLoss.Cosine })).Mse[0], 12);
        // Differences 1, -2, 2.5: huber 0.5 (|e| = 1 is outside), 1.5, 2.
        Assert.Equal((0.5 + 1.5 + 2.0) / 3, ReferenceDistill.ComputeStats(x64, HyperWith(new DistillLoss() with { Feature = FeatureLoss.SmoothL1 })).Mse[0], 12);
    }

    [Theory]
    [InlineData("hinge", null, "--kd-loss: unknown divergence 'hinge' (known: kl, reverse-kl, jsd, dkd)")]
    [InlineData("jsd:1.5", null, "--kd-loss jsd: beta must lie in (0, 1) (got 1.5)")]
    [InlineData("jsd:0", null, "--kd-loss jsd: beta must lie in (0, 1) (got 0)")]
    [InlineData("dkd:gamma=2", null, "--kd-loss dkd: unknown parameter 'gamma' (known: alpha, beta)")]
    [InlineData("dkd:1,2,3", null, "--kd-loss dkd: takes 2 parameter(s), got 3")]
    [InlineData("kl:1", null, "--kd-loss kl: takes 0 parameter(s), got 1")]
    [InlineData("dkd:x", null, "--kd-loss dkd: 'x' is not a number")]
    [InlineData(null, "l1", "--feature-loss: unknown feature loss 'l1' (known: mse, cosine, smooth-l1)")]
    public void Bad_options_are_one_line_errors(string? kd, string? feature, string message)
    {
        var e = Assert.Throws<MtkdInputException>(() => DistillLossCatalog.Parse(kd, feature));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void The_default_options_are_the_default_loss()
    {
        Assert.True(DistillLossCatalog.Parse(null, null).IsDefault);
        Assert.True(DistillLossCatalog.Parse("kl", "mse").IsDefault);
        Assert.Equal(new DistillLoss(LogitDivergence.Dkd, 1f, 8f, FeatureLoss.Mse), DistillLossCatalog.Parse("dkd", null));
        Assert.Equal(DistillHyper.Default, DistillHyper.Default with { Loss = DistillLossCatalog.Parse("kl", null) });
    }
}
