using MtkdRl.Backends;
using MtkdRl.Backends.Agreement;
using MtkdRl.Core.Distill;
using MtkdRl.Gpu.Ilgpu;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Distill;

/// <summary>
/// kl's gradient alone (a_ce = 0) where teacher and student agree to varying degrees, on every backend against the
/// float64 reference, each row against its own largest value. Each row's teachers are its student plus uniform noise of
/// its own width, from 1e-3 (KL / T^2 near 1e-8) to 10 (on the negated student: KL of order ten), times the logits'
/// scale, so one batch holds rows on both sides of the threshold below which the kernels write a row's gradient again
/// in the form that keeps its precision (KL / T^2 below 1e-4 (1 + |lse_t| + |lse_st|)^2,
/// native/src/distill_kl_gradient.inl): the rows just above it, which keep the fast form, are held to the same
/// tolerance. Logits at scale 3 and 6 (the fast form's rounding grows with them); kl beside the cosine and smooth-l1
/// feature losses too, which take the catalog's route through the same KL kernels. In the cancelling case each row's
/// first two teachers lean the opposite ways from the student with equal weights (the third close to it), so their
/// terms of the gradient cancel to a few per cent of each, and every logit is shifted by 60 (the probabilities
/// unchanged), so each log-sum-exp carries a rounding of up to 4e-6, about 60 times float's relative precision: a
/// per-teacher error of that size in the precise form survives the cancellation, where the terms' own roundings are
/// allowed for (RowFloor).
/// </summary>
public class KlGradientPrecisionTests
{
    private static readonly double[] NoiseWidths = [1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0];
    /// <summary>The kernels' threshold scale (native kPreciseKlGradientScale, CUDA and ILGPU alike).</summary>
    private const double PreciseScale = CatalogLossSweeps.PreciseKlGradientScale;

    public static TheoryData<string, int, float, float, string, bool> Data()
    {
        var data = new TheoryData<string, int, float, float, string, bool>();
        foreach (var entry in BackendCatalog.All.Where(e => !(e.Name == "ilgpu" && e.Simulated)))
        {
            foreach (int c in new[] { 11, 100, 1000 }.Where(c => c < 1000 || !entry.Simulated))
                foreach (float t in new[] { 1f, 4f })
                    foreach (float scale in new[] { 1f, 2f })
                        data.Add(entry.Name, c, t, scale, "mse", false);
            // kl with another feature loss takes the catalog's route (the KL kernels, then the feature sweep).
            foreach (string feature in new[] { "cosine", "smooth-l1" })
                data.Add(entry.Name, 100, 4f, 1f, feature, false);
            data.Add(entry.Name, 11, 1f, 2f, "mse", true);
            data.Add(entry.Name, 100, 4f, 2f, "mse", true);
        }
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Data))]
    public void Holds_the_gradient_tolerance_from_nearly_equal_to_distant_teachers(string backendName, int classes,
        float temperature, float logitScale, string featureLoss, bool cancelling)
    {
        var backend = SharedBackends.GetOrSkip(backendName);
        int seed = TestSeeds.Next();
        var shape = new DistillShape(3 * NoiseWidths.Length, 3, classes, 4);
        var x = Inputs(shape, seed, logitScale, cancelling);
        var hyper = new DistillHyper(Temperature: temperature, ACe: 0f, AKd: 1f, Beta: 1f,
            Loss: DistillLossCatalog.Parse("kl", featureLoss));
        Skip.IfNot(backend.Supports(hyper.Loss), $"{backendName} does not implement kl + {featureLoss}");
        string at = $"{backendName} kl + {featureLoss} C {classes} T {temperature} logit scale {logitScale}{(cancelling ? " cancelling" : "")} seed {seed}";

        var x64 = ReferenceDistill.Inputs64.From(x);
        var reference = ReferenceDistill.ComputeStats(x64, hyper);
        var want = ReferenceDistill.ComputeGrads(x64, reference, hyper).Dzs;
        // Both routes are taken: some counted rows have a pair below the kernels' threshold, KL / T^2 below
        // 1e-4 (1 + |lse_t| + |lse_st|)^2, some have none.
        var counted = Enumerable.Range(0, shape.B).Where(b => x.Y[b] >= 0).ToArray();
        bool Precise(int b) => Enumerable.Range(0, shape.K).Any(k =>
        {
            int i = b * shape.K + k;
            double l = 1 + Math.Abs(reference.LseST[b]) + Math.Abs(reference.LseT[i]);
            return reference.Kl[i] / (temperature * temperature) < PreciseScale * l * l;
        });
        // (With the cancelling case's shift of 60 the threshold rises with |lse|^2 and takes nearly every row.)
        Assert.True(counted.Any(Precise) && (cancelling || !counted.All(Precise)),
            $"{at}: the batch should hold rows on both sides of the threshold ({counted.Count(Precise)} of {counted.Length} counted rows below it)");

        // Each row against its own largest value: the rows of distant teachers would otherwise set the scale. The floor
        // is a probability difference of 1e-10 times the tolerance, or where larger what float resolves of one near 1:
        // in a near one-hot row the argmax's ps and pt are 1 to float precision, and its gradient (minus the sum of the
        // others') comes from each teacher's shift of the row, the rounding of its log-sum-exps (a = u L, u = 2^-24,
        // L = 1 + |lse_t| + |lse_st|), known to float's relative precision: u^2 L (4 u^2 L allowed).
        double coefficient = hyper.AKd * temperature * x64.InverseCountedRows();
        double baseFloor = BackendAgreement.GradToleranceFor(backend) * 1e-10 * coefficient;
        // Where the teachers' terms cancel, a float kernel resolves the sum only to the rounding of each term: the floor
        // also allows 16 u of the largest sum over teachers of |wl_k (ps_c - pt_kc)| (each term is a few roundings).
        const double u = 1.0 / (1 << 24);
        double RowFloor(int b)
        {
            double l = Enumerable.Range(0, shape.K).Max(k => 1 + Math.Abs(reference.LseST[b]) + Math.Abs(reference.LseT[b * shape.K + k]));
            double termsAtMost = 0;
            for (int c = 0; c < classes; c++)
            {
                double ps = Math.Exp(x64.Zs[b * classes + c] / temperature - reference.LseST[b]), terms = 0;
                for (int k = 0; k < shape.K; k++)
                    terms += Math.Abs(x64.Wl[b * shape.K + k] *
                        (ps - Math.Exp(x64.Zt[(k * shape.B + b) * classes + c] / temperature - reference.LseT[b * shape.K + k])));
                termsAtMost = Math.Max(termsAtMost, terms);
            }
            return Math.Max(baseFloor, coefficient * Math.Max(4 * u * u * l, 16 * u * termsAtMost));
        }
        double tolerance = BackendAgreement.GradToleranceFor(backend);
        foreach (var (route, grads) in DistillAgreement.GradsOfBothRoutes(backend, x, hyper))
        {
            foreach (int b in counted)
            {
                var r = BackendAgreement.CompareOutput($"{at} {route} dzs row {b}",
                    want.AsSpan(b * classes, classes).ToArray(), grads.Dzs.AsSpan(b * classes, classes).ToArray(), tolerance, RowFloor(b));
                Assert.True(r.Passed, r.Detail);
            }
        }
    }

    /// <summary>Gaussian student logits times the scale; row b's teachers add noise of width NoiseWidths[b mod n] times the
    /// scale, the widest rows' to the negated student (so they are always far above the threshold). Cancelling: teacher 1's noise is minus teacher 0's plus a fiftieth of its own, teacher 2's a fiftieth, the
    /// weights 0.45, 0.45, 0.1, and every logit shifted by 60.</summary>
    private static DistillInputs Inputs(DistillShape s, int seed, float logitScale, bool cancelling)
    {
        var x = AgreementInputs.Create(s, seed, LogitStyle.Normal, ignoredFraction: 0.1);
        var rng = new Random(seed ^ 0x6b6c);
        // The rows of the widest noise stay counted, so every batch has rows above the threshold.
        for (int b = NoiseWidths.Length - 1; b < s.B; b += NoiseWidths.Length)
            if (x.Y[b] < 0) x.Y[b] = rng.Next(s.C);
        for (int i = 0; i < x.Zs.Length; i++) x.Zs[i] *= logitScale;
        double Noise(int b) => logitScale * NoiseWidths[b % NoiseWidths.Length] * (rng.NextDouble() - 0.5);
        for (int b = 0; b < s.B; b++)
            for (int c = 0; c < s.C; c++)
            {
                float zs = x.Zs[b * s.C + c];
                // The widest rows' teachers start from the negated student: uniform noise alone leaves a third of
                // them near a student whose top logit leads by more than the noise (C 11, scale 2), below the threshold.
                float start = !cancelling && b % NoiseWidths.Length == NoiseWidths.Length - 1 ? -zs : zs;
                double first = Noise(b);
                for (int k = 0; k < s.K; k++)
                {
                    double noise = !cancelling || k == 0 ? (k == 0 ? first : Noise(b))
                        : k == 1 ? -first + Noise(b) / 50 : Noise(b) / 50;
                    x.Zt[(k * s.B + b) * s.C + c] = start + (float)noise;
                }
            }
        if (cancelling)
        {
            for (int b = 0; b < s.B; b++)
                for (int k = 0; k < s.K; k++)
                    x.Wl[b * s.K + k] = k < 2 ? 0.45f : 0.1f;
            for (int i = 0; i < x.Zs.Length; i++) x.Zs[i] += 60f;
            for (int i = 0; i < x.Zt.Length; i++) x.Zt[i] += 60f;
        }
        return x;
    }
}
