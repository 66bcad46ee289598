using MtkdRl.Core;
using MtkdRl.Core.Distill;

namespace MtkdRl.Backends.Agreement;

/// <summary>
/// A backend's passes against the float64 reference, output by output: max|got - ref| / max|ref| within the
/// tolerance (docs/ARCHITECTURE.md, Tolerances), NaN/Inf at the same positions. Outputs are poisoned before each
/// pass so an element a kernel forgets to write shows. The tests, `mtkd selfcheck` and `mtkd bench kernels`
/// all compare through here.
/// </summary>
public static class BackendAgreement
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
    /// Checks of precision (<see cref="LogitStyle.NearlyEqual"/>) run without it.
    /// </summary>
    public const double AbsoluteFloor = 1e-6;

    public static double StatsToleranceFor(IDistillBackend backend) => backend.ApproximateMath ? ApproximateTolerance : StatsTolerance;

    public static double GradToleranceFor(IDistillBackend backend) => backend.ApproximateMath ? ApproximateTolerance : GradTolerance;

    /// <summary>
    /// The two-pass route (stats, then gradient) and the fused pass, every output of each compared with the reference.
    /// </summary>
    /// <param name="context">Prefix of every result's name (backend, case, seed).</param>
    /// <param name="rows">Rows to compare (all when null): rows whose inputs were made non-finite on purpose are left out.</param>
    /// <param name="reweightSeed">When set, new weights drawn from it are uploaded between the stats and the gradient
    /// pass, as the agent does; <paramref name="x"/>'s weights are replaced by them.</param>
    /// <param name="absoluteFloor">False to hold small outputs to the relative tolerance alone.</param>
    public static IReadOnlyList<OutputAgreement> Check(IDistillBackend backend, DistillInputs x, DistillHyper h, string context,
        bool[]? rows = null, int? reweightSeed = null, bool absoluteFloor = true)
    {
        using var session = backend.CreateSession(x.Shape);
        session.Upload(x);
        var stats = new DistillStats(x.Shape);
        var grads = new DistillGrads(x.Shape);

        session.PoisonOutputs();
        session.Stats(h);
        if (reweightSeed is int seed)
        {
            var rng = new Random(seed);
            for (int i = 0; i < x.Wl.Length; i++) x.Wl[i] = (float)(0.1 + rng.NextDouble());
            for (int i = 0; i < x.Wf.Length; i++) x.Wf[i] = (float)(0.1 + rng.NextDouble());
            session.UploadWeights(x.Wl, x.Wf);
        }
        session.Gradient(h);
        session.DownloadStats(stats);
        session.DownloadGrads(grads);

        var x64 = ReferenceDistill.Inputs64.From(x);
        var refStats = ReferenceDistill.ComputeStats(x64, h);
        var refGrads = ReferenceDistill.ComputeGrads(x64, refStats, h);
        var tolerances = new Tolerances(StatsToleranceFor(backend), GradToleranceFor(backend),
            absoluteFloor ? AbsoluteFloor : 0, absoluteFloor ? AbsoluteFloor * x64.InverseCountedRows() : 0);

        var results = new List<OutputAgreement>();
        results.AddRange(Compare(Prefix(context, "two-pass"), refStats, refGrads, stats, grads, tolerances, rows));
        session.PoisonOutputs();
        session.Fused(h);
        session.DownloadStats(stats);
        session.DownloadGrads(grads);
        results.AddRange(Compare(Prefix(context, "fused"), refStats, refGrads, stats, grads, tolerances, rows));
        return results;
    }

    private static string Prefix(string context, string route) => context.Length == 0 ? route : $"{context} {route}";

    /// <summary>Relative tolerances of statistics and gradients, and the absolute floors added to each.</summary>
    public readonly record struct Tolerances(double Stats, double Grads, double StatsFloor, double GradFloor);

    public static IEnumerable<OutputAgreement> Compare(string context, ReferenceDistill.Stats64 rs, ReferenceDistill.Grads64 rg,
        DistillStats s, DistillGrads g, Tolerances t, bool[]? rows = null)
    {
        foreach (var ((name, want), (_, got)) in ReferenceDistill.Named(rs).Zip(s.Named()))
            yield return CompareOutput($"{context} {name}", want, got, t.Stats, t.StatsFloor, rows);
        foreach (var ((name, want), (_, got)) in ReferenceDistill.Named(rg).Zip(g.Named()))
            yield return CompareOutput($"{context} {name}", want, got, t.Grads, t.GradFloor, rows);
    }

    /// <summary>
    /// Passes when max|got - ref| &lt;= tolerance * max|ref| + floor over the compared rows (each output is [B, ...]
    /// row-major, <paramref name="rows"/> has B entries) and non-finite values sit exactly where the reference has
    /// them. An all-zero reference gets the floor alone, as a nearly-zero one does: a float32 kernel may round to 1e-8
    /// where float64 cancels to exactly 0. Where the floor is 0 (gradients when every row is ignored, whose floor scales
    /// with 1 / counted rows, and the precise cases) it is matched exactly.
    /// </summary>
    public static OutputAgreement CompareOutput(string what, double[] want, float[] got, double tolerance, double floor = 0, bool[]? rows = null)
    {
        if (want.Length != got.Length)
            return new OutputAgreement(what, double.NaN, tolerance, false, $"{what}: {got.Length} values, reference has {want.Length}");
        int perRow = rows is null || rows.Length == 0 ? 1 : Math.Max(1, want.Length / rows.Length);
        double maxRef = 0, maxErr = 0;
        int worst = -1;
        for (int i = 0; i < want.Length; i++)
        {
            if (rows is not null && !rows[i / perRow]) continue;
            // The best a float32 output can hold is the reference rounded to float32: an entropy of 1e-66 (a
            // near one-hot row) is 0 in float32, and must not count as a 100% error.
            double w = (float)want[i];
            bool wantFinite = double.IsFinite(w), gotFinite = float.IsFinite(got[i]);
            if (wantFinite != gotFinite || (!wantFinite && !w.Equals((double)got[i])))
                return new OutputAgreement(what, double.NaN, tolerance, false, $"{what}[{i}]: got {got[i]}, reference {w} (non-finite mismatch)");
            if (!wantFinite) continue;
            maxRef = Math.Max(maxRef, Math.Abs(w));
            double err = Math.Abs(got[i] - w);
            if (err > maxErr) { maxErr = err; worst = i; }
        }
        double relative = maxRef > 0 ? maxErr / maxRef : maxErr;
        bool ok = maxErr <= tolerance * maxRef + floor;
        string detail = ok ? "" : $"{what}: max relative error {relative:E3} > {tolerance:E1} (+ floor {floor:E1}) at [{worst}] "
            + $"(got {got[worst]}, reference {want[worst]:G9}, max|ref| {maxRef:G6})";
        return new OutputAgreement(what, relative, tolerance, ok, detail);
    }

    /// <summary>The largest relative error over the results (NaN when any output's non-finite values do not match).</summary>
    public static double WorstRelativeError(IEnumerable<OutputAgreement> results)
    {
        double worst = 0;
        foreach (var r in results)
        {
            if (double.IsNaN(r.RelativeError)) return double.NaN;
            worst = Math.Max(worst, r.RelativeError);
        }
        return worst;
    }

    /// <summary>Throws the first failure as a one-line <see cref="MtkdException"/>; returns the results when all passed.</summary>
    public static IReadOnlyList<OutputAgreement> ThrowIfFailed(this IReadOnlyList<OutputAgreement> results)
    {
        var failed = results.FirstOrDefault(r => !r.Passed);
        if (failed is not null) throw new MtkdException(failed.Detail);
        return results;
    }
}
