using MtkdRl.Core.Distill;
using Xunit.Sdk;

namespace MtkdRl.Tests.Distill;

/// <summary>
/// Runs a backend's passes on poisoned outputs and compares every output with the float64 reference:
/// per output, max|got - ref| / max|ref| within the tolerance (DESIGN §2), NaN/Inf at the same positions.
/// </summary>
public static class DistillAgreement
{
    public const double StatsTolerance = 1e-5;
    public const double GradTolerance = 1e-4;
    /// <summary>Approximate exp/log on GPUs (ex2.approx, lg2.approx) are good to about 2 ulp, which sums to this.</summary>
    public const double ApproximateTolerance = 1e-4;

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
        results.AddRange(Compare($"{context} two-pass", refStats, refGrads, stats, grads, statsTol, gradTol));

        session.PoisonOutputs();
        session.Fused(h);
        session.DownloadStats(stats);
        session.DownloadGrads(grads);
        results.AddRange(Compare($"{context} fused", refStats, refGrads, stats, grads, statsTol, gradTol));
        return results;
    }

    private static IEnumerable<Result> Compare(string context, ReferenceDistill.Stats64 rs, ReferenceDistill.Grads64 rg,
        DistillStats s, DistillGrads g, double statsTol, double gradTol)
    {
        foreach (var ((name, want), (_, got)) in ReferenceDistill.Named(rs).Zip(s.Named()))
            yield return CompareOne($"{context} {name}", want, got, statsTol);
        foreach (var ((name, want), (_, got)) in ReferenceDistill.Named(rg).Zip(g.Named()))
            yield return CompareOne($"{context} {name}", want, got, gradTol);
    }

    /// <summary>Fails on a size mismatch, a NaN/Inf where the reference is finite (or the reverse), or an error over tolerance.</summary>
    public static Result CompareOne(string what, double[] want, float[] got, double tolerance)
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
        if (!(rel <= tolerance))
            throw new XunitException($"{what}: max relative error {rel:E3} > {tolerance:E1} at [{worst}] (got {got[worst]}, reference {want[worst]}, max|ref| {maxRef:G6})");
        return new Result(what, rel, tolerance);
    }
}
