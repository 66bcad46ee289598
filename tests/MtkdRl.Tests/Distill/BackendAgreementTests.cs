using MtkdRl.Backends;
using MtkdRl.Backends.Agreement;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Distill;

/// <summary>
/// Every backend against the float64 reference, on fresh random inputs, with every output poisoned before
/// each pass. Written once; backends that cannot run here report skipped with the reason.
/// </summary>
public class BackendAgreementTests
{
    public static TheoryData<string, string> Cases() => CasesWhere(slow: false);

    public static TheoryData<string, string> SlowCases() => CasesWhere(slow: true);

    /// <summary>A simulator (ILGPU CPU accelerator, CUDA emulator) takes seconds per case at K &gt;= 100.</summary>
    private static bool IsSlow(BackendEntry entry, AgreementCase c) => entry.Simulated && c.D.Length >= 100;

    private static TheoryData<string, string> CasesWhere(bool slow)
    {
        var data = new TheoryData<string, string>();
        // "ilgpu" on a machine without a GPU is the CPU simulator that "ilgpu-cpu" already covers. The reference
        // backend (float64 arithmetic, float32 outputs) must meet the same tolerances as the others.
        foreach (var entry in BackendCatalog.All.Where(e => !(e.Name == "ilgpu" && e.Simulated)))
            foreach (var c in AgreementCase.All.Where(c => !(entry.Simulated && c.Heavy) && IsSlow(entry, c) == slow))
                data.Add(entry.Name, c.Name);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Agrees_with_the_float64_reference(string backendName, string caseName) => CheckCase(backendName, caseName);

    [Trait("Category", "Slow")]
    [SkippableTheory]
    [MemberData(nameof(SlowCases))]
    public void Agrees_with_the_float64_reference_at_many_teachers_on_a_simulator(string backendName, string caseName) =>
        CheckCase(backendName, caseName);

    private static void CheckCase(string backendName, string caseName)
    {
        var backend = SharedBackends.GetOrSkip(backendName);
        var c = AgreementCase.All.Single(a => a.Name == caseName);
        c.SkipUnlessSupported(backend);
        int seed = TestSeeds.Next();
        var x = DistillInputFactory.Create(c.Shape, seed, c.Style, c.Ignored);
        if (c.Style == LogitStyle.NearlyEqual)
        {
            double largest = ReferenceDistill.ComputeStats(ReferenceDistill.Inputs64.From(x), c.Hyper).Kl.Max();
            Assert.True(largest < 1e-5, $"seed {seed}: the batch should hold only tiny divergences (largest KL {largest:E2})");
        }
        DistillAgreement.Check(backend, x, c.Hyper, $"{backendName} {caseName} seed {seed}", absoluteFloor: !c.Precise);
    }

    public static TheoryData<string> Backends()
    {
        var data = new TheoryData<string>();
        foreach (var entry in BackendCatalog.All) data.Add(entry.Name);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Backends))]
    public void Non_finite_inputs_poison_their_own_row_only(string backendName)
    {
        var backend = SharedBackends.GetOrSkip(backendName);
        int seed = TestSeeds.Next();
        var shape = new DistillShape(6, 19, [5, 12, 3]);
        var x = DistillInputFactory.Create(shape, seed, ignoredFraction: 0);
        // Row 1: teacher 2's logits hold -Inf (a masked class must still be reported, not silently dropped).
        // Row 3: the student's projection for teacher 1 holds NaN. Row 4: the student logits hold +Inf.
        x.Zt[(2 * shape.B + 1) * shape.C + 7] = float.NegativeInfinity;
        x.Fs[3 * shape.F + shape.FeatureOffset[1] + 4] = float.NaN;
        x.Zs[4 * shape.C + 2] = float.PositiveInfinity;

        using var session = backend.CreateSession(shape);
        session.Upload(x);
        var stats = new DistillStats(shape);
        session.PoisonOutputs();
        session.Stats(DistillHyper.Default);
        session.DownloadStats(stats);

        string at = $"{backendName} seed {seed}";
        Assert.True(float.IsNaN(stats.LseT[1 * shape.K + 2]), $"{at}: lse_t[1,2] should be NaN");
        Assert.True(float.IsNaN(stats.Cos[3 * shape.K + 1]) && float.IsNaN(stats.Mse[3 * shape.K + 1]), $"{at}: cos/mse[3,1] should be NaN");
        Assert.True(float.IsNaN(stats.LseS1[4]) && float.IsNaN(stats.LseST[4]), $"{at}: lse_s1/lse_st[4] should be NaN");

        // Rows 0, 2 and 5 are untouched and must agree with the reference.
        var reference = ReferenceDistill.ComputeStats(ReferenceDistill.Inputs64.From(x), DistillHyper.Default);
        foreach (int b in new[] { 0, 2, 5 })
        {
            foreach (var ((name, want), (_, got)) in ReferenceDistill.Named(reference).Zip(stats.Named()))
            {
                int width = want.Length / shape.B;
                DistillAgreement.CompareOne($"{at} {name} row {b}", want.AsSpan(b * width, width).ToArray(),
                    got.AsSpan(b * width, width).ToArray(), backend.ApproximateMath ? DistillAgreement.ApproximateTolerance : DistillAgreement.StatsTolerance,
                    DistillAgreement.AbsoluteFloor);
            }
        }

        var error = Assert.Throws<MtkdInputException>(() => DistillValidation.CheckStatsFinite(x, stats));
        Assert.Equal("student logits, row 4: contains NaN or Inf", error.Message);
    }

    [SkippableTheory]
    [MemberData(nameof(Backends))]
    public void Upload_rejects_labels_out_of_range_and_mismatched_shapes(string backendName)
    {
        var backend = SharedBackends.GetOrSkip(backendName);
        var shape = new DistillShape(3, 5, [2]);
        using var session = backend.CreateSession(shape);
        var x = DistillInputFactory.Create(shape, TestSeeds.Next());
        x.Y[2] = 5;
        var e = Assert.Throws<MtkdInputException>(() => session.Upload(x));
        Assert.Contains("row 2: label 5 is outside [0,5)", e.Message);

        var other = DistillInputFactory.Create(new DistillShape(3, 5, [3]), TestSeeds.Next());
        Assert.Throws<MtkdInputException>(() => session.Upload(other));
    }
}
