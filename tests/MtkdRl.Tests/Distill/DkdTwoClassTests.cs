using MtkdRl.Backends;
using MtkdRl.Backends.Agreement;
using MtkdRl.Core.Distill;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Distill;

/// <summary>
/// dkd at two classes, where one class is off the target: the renormalised non-target distributions are both [1], so
/// NCKD and its gradient are 0 whatever the logits, and the gradient is alpha dt at the target and -alpha dt at the other
/// class. Each row's two teachers lean the opposite ways from the student with equal weights, so their dt cancel to
/// about a hundredth of each; a kernel that forms the NCKD gradient from r = -d - lambda in float leaves there the
/// rounding of lambda against d (beta times a few 1e-11), 1e-4 to 1e-3 of the row (every backend before it took
/// beta's weight as 0 at two classes). dzs with no cross-entropy term against the float64 reference, each row against
/// its own largest value, plus 16 u of the teachers' |wl_k alpha dt_k| (what float resolves of each term).
/// </summary>
public class DkdTwoClassTests
{
    public static TheoryData<string, float> Cases()
    {
        var data = new TheoryData<string, float>();
        foreach (var entry in BackendCatalog.All.Where(e => !(e.Name == "ilgpu" && e.Simulated)))
            foreach (float t in new[] { 1f, 4f })
                data.Add(entry.Name, t);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Keeps_the_gradient_where_the_teachers_target_terms_cancel(string backendName, float temperature)
    {
        var backend = SharedBackends.GetOrSkip(backendName);
        var hyper = new DistillHyper(Temperature: temperature, ACe: 0f, AKd: 1f, Beta: 1f,
            Loss: DistillLossCatalog.Parse("dkd:alpha=1,beta=8", "mse"));
        Skip.IfNot(backend.Supports(hyper.Loss), $"{backendName} does not implement dkd");
        int seed = TestSeeds.Next();
        var shape = new DistillShape(32, 2, 2, 4);
        var x = AgreementInputs.Create(shape, seed, LogitStyle.Normal, ignoredFraction: 0.1);
        var rng = new Random(seed ^ 0x646b64);
        for (int b = 0; b < shape.B; b++)
        {
            if (x.Y[b] < 0 && b % 4 == 0) x.Y[b] = rng.Next(shape.C);
            x.Wl[b * shape.K] = x.Wl[b * shape.K + 1] = 0.5f;
            double width = 1e-3 * Math.Pow(10, b % 3);  // 1e-3, 1e-2, 1e-1
            // The student's two logits 3 apart at most (ps between 0.05 and 0.95): in a near one-hot row dt is a
            // difference of two probabilities near 1, which float resolves only to a part of its shift's rounding.
            x.Zs[b * shape.C] = (float)(3 * rng.NextDouble() - 1.5);
            x.Zs[b * shape.C + 1] = (float)(3 * rng.NextDouble() - 1.5);
            for (int c = 0; c < shape.C; c++)
            {
                float zs = x.Zs[b * shape.C + c];
                double lean = width * (rng.NextDouble() - 0.5), apart = width * (rng.NextDouble() - 0.5) / 100;
                x.Zt[b * shape.C + c] = zs + (float)lean;
                x.Zt[(shape.B + b) * shape.C + c] = zs - (float)lean + (float)apart;
            }
        }
        string at = $"{backendName} dkd T {temperature} seed {seed}";

        var x64 = ReferenceDistill.Inputs64.From(x);
        var reference = ReferenceDistill.ComputeStats(x64, hyper);
        var want = ReferenceDistill.ComputeGrads(x64, reference, hyper).Dzs;
        double coefficient = hyper.AKd * temperature * x64.InverseCountedRows();
        const double u = 1.0 / (1 << 24);
        double tolerance = BackendAgreement.GradToleranceFor(backend);
        foreach (var (route, grads) in DistillAgreement.GradsOfBothRoutes(backend, x, hyper))
        {
            for (int b = 0; b < shape.B; b++)
            {
                if (x.Y[b] < 0) continue;
                double terms = 0;  // sum_k |wl_k (ps_y - pt_ky)| at T
                double psY = Math.Exp(x64.Zs[b * shape.C + x.Y[b]] / temperature - reference.LseST[b]);
                for (int k = 0; k < shape.K; k++)
                    terms += Math.Abs(x64.Wl[b * shape.K + k] *
                        (psY - Math.Exp(x64.Zt[(k * shape.B + b) * shape.C + x.Y[b]] / temperature - reference.LseT[b * shape.K + k])));
                var r = BackendAgreement.CompareOutput($"{at} {route} dzs row {b}",
                    want.AsSpan(b * shape.C, shape.C).ToArray(), grads.Dzs.AsSpan(b * shape.C, shape.C).ToArray(), tolerance,
                    16 * u * coefficient * terms);
                Assert.True(r.Passed, r.Detail);
            }
        }
    }
}
