using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Distill;

/// <summary>
/// Every catalog loss other than kl + mse (those are <see cref="BackendAgreementTests"/>) on every backend against
/// the float64 reference, over the cases of the agreement matrix. A backend that does not implement a loss must
/// refuse it with a one-line error, and the case reports skipped with that error as its reason.
/// </summary>
public class LossAgreementTests
{
    public static TheoryData<string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var entry in BackendCatalog.All.Where(e => !(e.Name == "ilgpu" && e.Simulated)))
            foreach (var loss in DistillLossCatalog.AllCombinations().Where(l => !l.IsDefault))
                foreach (var c in AgreementCase.All.Where(c => !c.Heavy && !(entry.Simulated && c.D.Length >= 100)))
                    data.Add(entry.Name, LossCatalogTests.Name(loss), c.Name);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Agrees_with_the_float64_reference_or_refuses_the_loss(string backendName, string lossName, string caseName)
    {
        var backend = SharedBackends.GetOrSkip(backendName);
        var c = AgreementCase.All.Single(a => a.Name == caseName);
        var hyper = c.Hyper with { Loss = LossCatalogTests.FromName(lossName) };
        c.SkipUnlessSupported(backend);
        int seed = TestSeeds.Next();
        var x = DistillInputFactory.Create(c.Shape, seed, c.Style, c.Ignored);
        if (!backend.Supports(hyper.Loss))
        {
            using var session = backend.CreateSession(c.Shape);
            session.Upload(x);
            var refusal = Assert.Throws<MtkdInputException>(() => session.Stats(hyper));
            Assert.Throws<MtkdInputException>(() => session.Fused(hyper));
            Assert.DoesNotContain('\n', refusal.Message);
            Skip.If(true, refusal.Message);
        }
        // The tiny-KL cases keep their precision check without the absolute floor: every divergence vanishes there too.
        DistillAgreement.Check(backend, x, hyper, $"{backendName} {lossName} {caseName} seed {seed}", absoluteFloor: !c.Precise);
    }

    public static TheoryData<string, string, string> DivergenceGradientCases()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var entry in BackendCatalog.All.Where(e => !(e.Name == "ilgpu" && e.Simulated)))
            foreach (var divergence in DistillLossCatalog.Divergences)
                foreach (var c in AgreementCase.All.Where(c => c.Precise && !c.Heavy))
                    data.Add(entry.Name, LossCatalogTests.Name(divergence.Make()), c.Name);
        return data;
    }

    /// <summary>
    /// The divergence's own gradient where teacher and student nearly agree, with no cross-entropy term (a_ce = 0):
    /// there the divergence's gradient is a small fraction of the cross-entropy's, which would otherwise set the scale
    /// of dzs's tolerance, so this holds it to the relative tolerance by itself. kl's and dkd's gradients are
    /// differences of probabilities (ps - pt) that cancel there, and are formed from d with the log-sum-exps' shift
    /// removed in these rows (docs/DESIGN.md §2); before that they measured 3e-4 to 1e-2 relative here.
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(DivergenceGradientCases))]
    public void Agrees_on_the_divergence_gradient_alone_where_teacher_and_student_nearly_agree(string backendName,
        string lossName, string caseName)
    {
        var backend = SharedBackends.GetOrSkip(backendName);
        var c = AgreementCase.All.Single(a => a.Name == caseName);
        var hyper = c.Hyper with { ACe = 0f, Loss = LossCatalogTests.FromName(lossName) };
        c.SkipUnlessSupported(backend);
        Skip.IfNot(backend.Supports(hyper.Loss), $"{backendName} does not implement {lossName}");
        int seed = TestSeeds.Next();
        var x = DistillInputFactory.Create(c.Shape, seed, c.Style, c.Ignored);
        DistillAgreement.Check(backend, x, hyper, $"{backendName} {lossName} {caseName} a_ce 0 seed {seed}", absoluteFloor: false);
    }

    public static TheoryData<string, string> DivergencesOnBackends()
    {
        var data = new TheoryData<string, string>();
        foreach (var entry in BackendCatalog.All.Where(e => !(e.Name == "ilgpu" && e.Simulated)))
            foreach (var divergence in DistillLossCatalog.Divergences.Where(d => !d.Make().IsDefault))
                data.Add(entry.Name, LossCatalogTests.Name(divergence.Make()));
        return data;
    }

    /// <summary>
    /// A non-finite row makes its own statistics NaN and leaves every other row's as the reference has them, also
    /// where rows are swept several at a time (one per vector lane: 37 rows of 11 classes are two full groups of 16
    /// and a partial one, or four of 8 and a partial one).
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(DivergencesOnBackends))]
    public void Non_finite_rows_poison_only_their_own_divergence(string backendName, string lossName)
    {
        var backend = SharedBackends.GetOrSkip(backendName);
        var hyper = DistillHyper.Default with { Loss = LossCatalogTests.FromName(lossName) };
        Skip.IfNot(backend.Supports(hyper.Loss), $"{backendName} does not implement {lossName}");
        int seed = TestSeeds.Next();
        var shape = new DistillShape(37, 11, [4, 2, 5]);
        var x = DistillInputFactory.Create(shape, seed, ignoredFraction: 0);
        // Row 3: teacher 1's logits hold -Inf. Row 17 (a second lane group): the student's logits hold NaN.
        x.Zt[(1 * shape.B + 3) * shape.C + 6] = float.NegativeInfinity;
        x.Zs[17 * shape.C + 10] = float.NaN;

        var stats = DistillAgreement.PoisonedStats(backend, x, hyper);

        string at = $"{backendName} {lossName} seed {seed}";
        Assert.True(float.IsNaN(stats.Kl[3 * shape.K + 1]), $"{at}: kl[3,1] = {stats.Kl[3 * shape.K + 1]}, should be NaN");
        for (int k = 0; k < shape.K; ++k)
            Assert.True(float.IsNaN(stats.Kl[17 * shape.K + k]), $"{at}: kl[17,{k}] = {stats.Kl[17 * shape.K + k]}, should be NaN");
        var reference = ReferenceDistill.ComputeStats(ReferenceDistill.Inputs64.From(x), hyper);
        var want = ReferenceDistill.Named(reference).Single(n => n.Name == "kl").Data;
        for (int b = 0; b < shape.B; ++b)
        {
            if (b == 3 || b == 17) continue;
            DistillAgreement.CompareOne($"{at} kl row {b}", want.AsSpan(b * shape.K, shape.K).ToArray(),
                stats.Kl.AsSpan(b * shape.K, shape.K).ToArray(),
                backend.ApproximateMath ? DistillAgreement.ApproximateTolerance : DistillAgreement.StatsTolerance,
                DistillAgreement.AbsoluteFloor);
        }
    }

    /// <summary>How a batch's student features stand to its teachers' in <see cref="Cosine_holds_its_precision_where_features_are_nearly_parallel"/>.</summary>
    public enum FeatureAlignment { Identical, Halved, Opposite, Within2em1 }

    public static TheoryData<string, FeatureAlignment> CosineAlignmentCases()
    {
        var data = new TheoryData<string, FeatureAlignment>();
        foreach (var entry in BackendCatalog.All.Where(e => !(e.Name == "ilgpu" && e.Simulated)))
            foreach (var alignment in Enum.GetValues<FeatureAlignment>())
                data.Add(entry.Name, alignment);
        return data;
    }

    /// <summary>
    /// The cosine loss where every slice of the batch has fs parallel to ft (fs = ft, ft / 2, -ft) or nearly so (ft
    /// plus noise of a fifth of its scale: |cos| around 0.98, on both sides of 0.99, where the native sweeps change
    /// their arithmetic), at
    /// widths of 1, 2, 5, 17 and 40, held to the relative tolerance without the absolute floor: there 1 - cos and dfs
    /// are small differences of large terms (fs = ft: 1 - cos = eps / (|f|^2 + eps), and the gradient's two terms
    /// cancel to eps / den^2), so a coefficient rounded to float, or a product's rounding, shows. One alignment per
    /// batch, so that the largest gradient, which sets the tolerance's scale, is one of its own. (Float sums of a slice
    /// leave cos an absolute error of a few 1e-7 on every backend: noise of a tenth, 1 - cos down to 0.005, missed 1e-5
    /// on some seeds, and noise of 1e-3, 1 - cos near 1e-6, always; neither is held to it here.)
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(CosineAlignmentCases))]
    public void Cosine_holds_its_precision_where_features_are_nearly_parallel(string backendName, FeatureAlignment alignment)
    {
        var backend = SharedBackends.GetOrSkip(backendName);
        var hyper = AgreementCase.All[0].Hyper with { Loss = LossCatalogTests.FromName("kl+cosine") };
        Skip.IfNot(backend.Supports(hyper.Loss), $"{backendName} does not implement kl+cosine");
        int seed = TestSeeds.Next();
        var shape = new DistillShape(21, 7, [1, 2, 5, 17, 40]);
        var x = DistillInputFactory.Create(shape, seed);
        var rng = new Random(seed);
        for (int i = 0; i < x.Fs.Length; i++)
        {
            float t = x.Ft[i];
            x.Fs[i] = alignment switch
            {
                FeatureAlignment.Identical => t,
                FeatureAlignment.Halved => 0.5f * t,
                FeatureAlignment.Opposite => -t,
                _ => (float)(t + 0.2 * rng.NextGaussian()),
            };
        }
        DistillAgreement.Check(backend, x, hyper, $"{backendName} kl+cosine {alignment} seed {seed}", absoluteFloor: false);
    }
}
