using MtkdRl.Backends;
using MtkdRl.Backends.Agreement;
using MtkdRl.Core.Distill;
using MtkdRl.Gpu.Ilgpu;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Distill;

/// <summary>
/// kl's gradient alone (a_ce = 0) where teacher and student agree to varying degrees, on every backend against the
/// float64 reference, each row against its own largest value. Each row's teachers are its student plus uniform noise
/// of its own width, from 1e-3 (KL / T^2 near 1e-8) to 10 (KL of order one), times the logits' scale, so one batch
/// holds rows on both sides of the threshold below which the kernels write a row's gradient again in the form that
/// keeps its precision (KL / T^2 below 1e-4 (1 + |lse_t| + |lse_st|)^2, native/src/distill_kl_gradient.inl): the
/// rows just above it, which keep the fast form, are held to the same tolerance. Logits at scale 3 and 6 (the fast
/// form's rounding grows with them); kl beside the cosine and smooth-l1 feature losses too, which take the catalog's
/// route through the same KL kernels.
/// </summary>
public class KlGradientPrecisionTests
{
    private static readonly double[] NoiseWidths = [1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0];
    /// <summary>The kernels' threshold scale (native kPreciseKlGradientScale, CUDA and ILGPU alike).</summary>
    private const double PreciseScale = CatalogLossSweeps.PreciseKlGradientScale;

    public static TheoryData<string, int, float, float, string> Data()
    {
        var data = new TheoryData<string, int, float, float, string>();
        foreach (var entry in BackendCatalog.All.Where(e => !(e.Name == "ilgpu" && e.Simulated)))
        {
            foreach (int c in new[] { 11, 100, 1000 }.Where(c => c < 1000 || !entry.Simulated))
                foreach (float t in new[] { 1f, 4f })
                    foreach (float scale in new[] { 1f, 2f })
                        data.Add(entry.Name, c, t, scale, "mse");
            // kl with another feature loss takes the catalog's route (the KL kernels, then the feature sweep).
            foreach (string feature in new[] { "cosine", "smooth-l1" })
                data.Add(entry.Name, 100, 4f, 1f, feature);
        }
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Data))]
    public void Holds_the_gradient_tolerance_from_nearly_equal_to_distant_teachers(string backendName, int classes,
        float temperature, float logitScale, string featureLoss)
    {
        var backend = SharedBackends.GetOrSkip(backendName);
        int seed = TestSeeds.Next();
        var shape = new DistillShape(3 * NoiseWidths.Length, 3, classes, 4);
        var x = Inputs(shape, seed, logitScale);
        var hyper = new DistillHyper(Temperature: temperature, ACe: 0f, AKd: 1f, Beta: 1f,
            Loss: DistillLossCatalog.Parse("kl", featureLoss));
        Skip.IfNot(backend.Supports(hyper.Loss), $"{backendName} does not implement kl + {featureLoss}");
        string at = $"{backendName} kl + {featureLoss} C {classes} T {temperature} logit scale {logitScale} seed {seed}";

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
        Assert.True(counted.Any(Precise) && !counted.All(Precise), $"{at}: the batch should hold rows on both sides of the threshold");

        // Each row against its own largest value: the rows of distant teachers would otherwise set the scale. The floor
        // is a probability difference of 1e-10 times the tolerance: in a near one-hot row the argmax's ps and pt are 1
        // to float precision, and its gradient (minus the sum of the others') is below that.
        double floor = BackendAgreement.GradToleranceFor(backend) * 1e-10 * hyper.AKd * temperature * x64.InverseCountedRows();
        using var session = backend.CreateSession(shape);
        session.Upload(x);
        var grads = new DistillGrads(shape);
        double tolerance = BackendAgreement.GradToleranceFor(backend);
        foreach (bool fused in new[] { false, true })
        {
            session.PoisonOutputs();
            if (fused) session.Fused(hyper);
            else
            {
                session.Stats(hyper);
                session.Gradient(hyper);
            }
            session.DownloadGrads(grads);
            foreach (int b in counted)
            {
                var r = BackendAgreement.CompareOutput($"{at} {(fused ? "fused" : "two-pass")} dzs row {b}",
                    want.AsSpan(b * classes, classes).ToArray(), grads.Dzs.AsSpan(b * classes, classes).ToArray(), tolerance, floor);
                Assert.True(r.Passed, r.Detail);
            }
        }
    }

    /// <summary>Gaussian student logits times the scale; row b's teachers add noise of width NoiseWidths[b mod n] times the scale.</summary>
    private static DistillInputs Inputs(DistillShape s, int seed, float logitScale)
    {
        var x = AgreementInputs.Create(s, seed, LogitStyle.Normal, ignoredFraction: 0.1);
        var rng = new Random(seed ^ 0x6b6c);
        // The rows of the widest noise stay counted, so every batch has rows above the threshold.
        for (int b = NoiseWidths.Length - 1; b < s.B; b += NoiseWidths.Length)
            if (x.Y[b] < 0) x.Y[b] = rng.Next(s.C);
        for (int i = 0; i < x.Zs.Length; i++) x.Zs[i] *= logitScale;
        for (int k = 0; k < s.K; k++)
            for (int b = 0; b < s.B; b++)
            {
                double width = logitScale * NoiseWidths[b % NoiseWidths.Length];
                for (int c = 0; c < s.C; c++)
                    x.Zt[(k * s.B + b) * s.C + c] = x.Zs[b * s.C + c] + (float)(width * (rng.NextDouble() - 0.5));
            }
        return x;
    }
}
