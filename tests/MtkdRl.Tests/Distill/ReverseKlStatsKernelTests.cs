using MtkdRl.Backends;
using MtkdRl.Backends.Agreement;
using MtkdRl.Core.Distill;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Distill;

/// <summary>
/// Reverse KL where the native stats kernel forms it in its own teacher sweep and leaves the catalog's sweep only the
/// pairs below its plain form's threshold, on rows one at a time (C &gt; 128) and by lane groups (C &lt;= 128, with full
/// and partial groups): rows whose divergences all lie above it, around it (T = 8), all below it (nearly equal
/// logits), at extreme logits and at a temperature that is not a small integer, each against the float64 reference;
/// and a non-finite teacher row.
/// </summary>
public class ReverseKlStatsKernelTests
{
    public sealed record Case(string Name, int B, int C, int[] D, LogitStyle Style, float Temperature, bool Precise);

    private static readonly Case[] Cases =
    [
        new("normal-C300-T4", 10, 300, [5, 0, 9], LogitStyle.Normal, 4f, false),
        new("normal-C129-T2.5", 7, 129, [3, 4], LogitStyle.Normal, 2.5f, false),
        new("around-threshold-C257-T8", 12, 257, [6, 2, 2, 5], LogitStyle.Normal, 8f, false),
        new("tiny-C257-T1", 9, 257, [4, 4], LogitStyle.NearlyEqual, 1f, true),
        new("extreme-C200-T1", 6, 200, [7], LogitStyle.Extreme, 1f, false),
        new("normal-C11-T4", 37, 11, [3, 0, 5], LogitStyle.Normal, 4f, false),
        new("normal-C100-T2.5", 20, 100, [4, 4], LogitStyle.Normal, 2.5f, false),
        new("around-threshold-C37-T8", 40, 37, [2, 5, 3, 1], LogitStyle.Normal, 8f, false),
        new("tiny-C64-T1", 19, 64, [4, 4], LogitStyle.NearlyEqual, 1f, true),
        new("extreme-C128-T1", 17, 128, [7], LogitStyle.Extreme, 1f, false),
    ];

    public static TheoryData<string, string> Data()
    {
        var data = new TheoryData<string, string>();
        foreach (var entry in BackendCatalog.All.Where(e => !e.Simulated))
            foreach (var c in Cases) data.Add(entry.Name, c.Name);
        return data;
    }

    private static DistillHyper Hyper(float temperature) =>
        new(Temperature: temperature, ACe: 0.9f, AKd: 1.1f, Beta: 5f, CosEps: 1e-8f)
        {
            Loss = DistillLossCatalog.Parse("reverse-kl", "mse"),
        };

    [SkippableTheory]
    [MemberData(nameof(Data))]
    public void Agrees_with_the_float64_reference(string backendName, string caseName)
    {
        var backend = SharedBackends.GetOrSkip(backendName);
        var c = Cases.Single(x => x.Name == caseName);
        var hyper = Hyper(c.Temperature);
        Skip.IfNot(backend.Supports(hyper.Loss), $"{backendName} does not implement reverse-kl");
        int seed = TestSeeds.Next();
        var x = DistillInputFactory.Create(new DistillShape(c.B, c.C, c.D), seed, c.Style, 0.15);
        DistillAgreement.Check(backend, x, hyper, $"{backendName} reverse-kl {caseName} seed {seed}", absoluteFloor: !c.Precise);
    }

    [SkippableTheory]
    [MemberData(nameof(Backends))]
    public void A_non_finite_teacher_row_gives_NaN_for_its_pair_only(string backendName, int classes)
    {
        var backend = SharedBackends.GetOrSkip(backendName);
        var hyper = Hyper(4f);
        Skip.IfNot(backend.Supports(hyper.Loss), $"{backendName} does not implement reverse-kl");
        int seed = TestSeeds.Next();
        var shape = new DistillShape(5, classes, [4, 6, 2]);
        var x = DistillInputFactory.Create(shape, seed, ignoredFraction: 0);
        x.Zt[(2 * shape.B + 1) * shape.C + 7] = float.NegativeInfinity;  // row 1, teacher 2

        var stats = DistillAgreement.PoisonedStats(backend, x, hyper);

        string at = $"{backendName} C = {classes} seed {seed}";
        Assert.True(float.IsNaN(stats.Kl[1 * shape.K + 2]), $"{at}: reverse KL [1,2] should be NaN, got {stats.Kl[1 * shape.K + 2]}");
        var reference = ReferenceDistill.ComputeStats(ReferenceDistill.Inputs64.From(x), hyper);
        foreach (int b in new[] { 0, 2, 3, 4 })
        {
            var want = reference.Kl.AsSpan(b * shape.K, shape.K).ToArray();
            var got = stats.Kl.AsSpan(b * shape.K, shape.K).ToArray();
            DistillAgreement.CompareOne($"{at} reverse KL row {b}", want, got, DistillAgreement.StatsTolerance, DistillAgreement.AbsoluteFloor);
        }
    }

    public static TheoryData<string, int> Backends()
    {
        var data = new TheoryData<string, int>();
        foreach (var entry in BackendCatalog.All.Where(e => !e.Simulated))
            foreach (int classes in new[] { 300, 11 }) data.Add(entry.Name, classes);
        return data;
    }
}
