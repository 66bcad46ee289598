using MtkdRl.Core.Distill;
using Xunit.Sdk;

namespace MtkdRl.Tests.Distill;

/// <summary>
/// Runs a backend's passes on poisoned outputs and compares every output with the float64 reference:
/// per output, max|got - ref| / max|ref| within the tolerance (docs/DESIGN.md §2), NaN/Inf at the same positions.
/// </summary>
public static class DistillAgreement
{
    public const double StatsTolerance = 1e-5;
    public const double GradTolerance = 1e-4;
    /// <summary>Approximate exp/log on GPUs (ex2.approx, lg2.approx) are good to about 2 ulp, which sums to this.</summary>
    public const double ApproximateTolerance = 1e-4;
    /// <summary>
    /// Absolute floor for statistics: a float32 value formed from O(1) inputs by a cancelling sum (lse near 0 when
    /// m = -log S, a cosine near 0, a KL between nearly equal rows) carries an absolute error of a few ulp of 1
    /// however small the result. It only matters when an output's largest value is itself tiny (B = 1, K = 1):
    /// for ordinary outputs tolerance * max|ref| is far larger. Gradients are scaled by 1/B', and so is their floor.
    /// </summary>
    public const double AbsoluteFloor = 1e-6;

    public sealed record Result(string Output, double RelativeError, double Tolerance);

    /// <summary>Checks the two-pass route (stats, then gradient with the weights) and the fused pass.</summary>
    public static IReadOnlyList<Result> Check(IDistillBackend backend, DistillInputs x, DistillHyper h, string context)
    {
        var x64 = ReferenceDistill.Inputs64.From(x);
        var refStats = ReferenceDistill.ComputeStats(x64, h);
        var refGrads = ReferenceDistill.ComputeGrads(x64, refStats, h);
        double statsTol = backend.ApproximateMath ? ApproximateTolerance : StatsTolerance;
        double gradTol = backend.ApproximateMath ? ApproximateTolerance : GradTolerance;

        var results = new List<Result>();
        using var session = backend.CreateSession(x.Shape);
        session.Upload(x);

        var stats = new DistillStats(x.Shape);
        var grads = new DistillGrads(x.Shape);

        session.PoisonOutputs();
        session.Stats(h);
        session.Gradient(h);
        session.DownloadStats(stats);
        session.DownloadGrads(grads);
        double gradFloor = AbsoluteFloor * x64.InverseCountedRows();
        results.AddRange(Compare($"{context} two-pass", refStats, refGrads, stats, grads, statsTol, gradTol, gradFloor));

        session.PoisonOutputs();
        session.Fused(h);
        session.DownloadStats(stats);
        session.DownloadGrads(grads);
        results.AddRange(Compare($"{context} fused", refStats, refGrads, stats, grads, statsTol, gradTol, gradFloor));
        return results;
    }

    private static IEnumerable<Result> Compare(string context, ReferenceDistill.Stats64 rs, ReferenceDistill.Grads64 rg,
        DistillStats s, DistillGrads g, double statsTol, double gradTol, double gradFloor)
    {
        foreach (var ((name, want), (_, got)) in ReferenceDistill.Named(rs).Zip(s.Named()))
            yield return CompareOne($"{context} {name}", want, got, statsTol, AbsoluteFloor);
        foreach (var ((name, want), (_, got)) in ReferenceDistill.Named(rg).Zip(g.Named()))
            yield return CompareOne($"{context} {name}", want, got, gradTol, gradFloor);
    }

    /// <summary>
    /// Fails on a size mismatch, a NaN/Inf where the reference is finite (or the reverse), or
    /// max|got - ref| &gt; tolerance * max|ref| + floor. An output whose reference is all zeros must be exactly zero.
    /// </summary>
    public static Result CompareOne(string what, double[] want, float[] got, double tolerance, double floor = 0)
    {
        if (want.Length != got.Length)
            throw new XunitException($"{what}: {got.Length} values, reference has {want.Length}");
        // The best a float32 output can hold is the reference rounded to float32: an entropy of 1e-66 (a
        // near one-hot row) is 0 in float32, and must not count as a 100% error.
        want = want.Select(v => (double)(float)v).ToArray();
        double maxRef = 0, maxErr = 0;
        int worst = -1;
        for (int i = 0; i < want.Length; i++)
        {
            bool wantFinite = double.IsFinite(want[i]), gotFinite = float.IsFinite(got[i]);
            if (wantFinite != gotFinite || (!wantFinite && !want[i].Equals((double)got[i])))
                throw new XunitException($"{what}[{i}]: got {got[i]}, reference {want[i]} (non-finite mismatch)");
            if (!wantFinite) continue;
            maxRef = Math.Max(maxRef, Math.Abs(want[i]));
            double err = Math.Abs(got[i] - want[i]);
            if (err > maxErr) { maxErr = err; worst = i; }
        }
        // An all-zero output (e.g. gradients when every row is ignored) must be exactly zero.
        double rel = maxRef > 0 ? maxErr / maxRef : maxErr;
        bool ok = maxRef > 0 ? maxErr <= tolerance * maxRef + floor : maxErr == 0;
        if (!ok)
            throw new XunitException($"{what}: max relative error {rel:E3} > {tolerance:E1} (+ floor {floor:E1}) at [{worst}] (got {got[worst]}, reference {want[worst]}, max|ref| {maxRef:G6})");
        return new Result(what, rel, tolerance);
    }
}
