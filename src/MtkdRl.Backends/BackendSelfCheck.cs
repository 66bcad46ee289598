using System.Diagnostics;
using MtkdRl.Core;
using MtkdRl.Core.Distill;

namespace MtkdRl.Backends;

/// <summary>One check of <see cref="BackendSelfCheck"/>: passed or not, and what was seen.</summary>
public sealed record SelfCheckResult(string Backend, string Name, bool Passed, string Detail);

/// <summary>
/// Every pass of a backend against the float64 reference on fresh random inputs, outside the test suite, so a
/// machine without .NET's test tooling (a GPU machine given only the published CLI) can still prove its kernels.
/// Outputs are poisoned with NaN before each pass so an element a kernel forgets to write shows. Beside the
/// requested shapes it covers the cases that break kernels in different ways: ragged teacher widths, near
/// one-hot logits, every row ignored, and the non-finite-input contract of <see cref="IDistillSession"/>.
/// Tolerances are those of the backend agreement tests.
/// </summary>
public static class BackendSelfCheck
{
    public const double StatsTolerance = 1e-5;
    public const double GradTolerance = 1e-4;
    public const double ApproximateTolerance = 1e-4;
    /// <summary>A cancelling float32 sum of O(1) terms keeps a few ulp of 1 however small its result.</summary>
    public const double AbsoluteFloor = 1e-6;

    /// <summary>
    /// Run's own cases beyond the requested shapes: widths differing per teacher, C and D not multiples of a warp;
    /// <paramref name="small"/> for CPU simulators, which take minutes at the full sizes.
    /// </summary>
    public static (DistillShape Ragged, DistillShape Edge) FixedShapes(bool small) => small
        ? (new DistillShape(13, 101, [1, 32, 65, 3]), new DistillShape(12, 4, 77, 24))
        : (new DistillShape(67, 1001, [1, 32, 257, 512, 3]), new DistillShape(48, 6, 333, 40));

    /// <param name="finished">Called as each check ends, so a run cut short by a time limit still shows what passed.</param>
    public static IReadOnlyList<SelfCheckResult> Run(IDistillBackend backend, IEnumerable<DistillShape> shapes, int seed, bool small = false,
        Action<SelfCheckResult, TimeSpan>? finished = null)
    {
        var (ragged, edge) = FixedShapes(small);
        var results = new List<SelfCheckResult>();
        SelfCheckResult Check(IDistillBackend backend, string name, Func<string> body)
        {
            long start = Stopwatch.GetTimestamp();
            var result = CheckOne(backend, name, body);
            finished?.Invoke(result, Stopwatch.GetElapsedTime(start));
            return result;
        }
        var rng = new Random(seed);
        foreach (var shape in shapes)
        {
            int s = rng.Next();
            results.Add(Check(backend, $"random {shape} seed {s}", () => Agreement(backend, RandomInputs(shape, s, extreme: false), Hyper(s))));
        }
        int r = rng.Next();
        results.Add(Check(backend, $"ragged widths {ragged} seed {r}", () => Agreement(backend, RandomInputs(ragged, r, extreme: false), Hyper(r))));
        int e = rng.Next();
        results.Add(Check(backend, $"near one-hot logits {edge} seed {e}", () => Agreement(backend, RandomInputs(edge, e, extreme: true), Hyper(e))));
        int z = rng.Next();
        results.Add(Check(backend, $"every row ignored {edge} seed {z}", () => EveryRowIgnored(backend, edge, z)));
        int n = rng.Next();
        results.Add(Check(backend, $"non-finite inputs {edge} seed {n}", () => NonFinite(backend, edge, n)));
        return results;
    }

    private static SelfCheckResult CheckOne(IDistillBackend backend, string name, Func<string> body)
    {
        try
        {
            return new SelfCheckResult(backend.Name, name, true, body());
        }
        catch (Exception ex) // a self-check reports every failure, whatever threw it, and goes on to the next case
        {
            return new SelfCheckResult(backend.Name, name, false, $"{ex.GetType().Name}: {ex.Message.ReplaceLineEndings(" ")}");
        }
    }

    private static DistillHyper Hyper(int seed)
    {
        var rng = new Random(seed ^ 0x5eed);
        return new DistillHyper(Temperature: (float)(1 + 4 * rng.NextDouble()), ACe: (float)(0.5 + rng.NextDouble()),
            AKd: (float)(0.5 + rng.NextDouble()), Beta: (float)(1 + 4 * rng.NextDouble()));
    }

    /// <summary>Gaussian inputs with 10% ignored rows (row 0 always counted), or ±80 logits with one winner per row.</summary>
    public static DistillInputs RandomInputs(DistillShape shape, int seed, bool extreme)
    {
        var x = KernelBenchmark.RandomInputs(shape, seed);
        if (x.Y[0] < 0) x.Y[0] = 0;
        if (!extreme) return x;
        var rng = new Random(~seed);
        foreach (var z in new[] { x.Zs, x.Zt })
        {
            for (int row = 0; row < z.Length / shape.C; row++)
            {
                int winner = rng.Next(shape.C);
                for (int c = 0; c < shape.C; c++)
                    z[row * shape.C + c] = c == winner ? 80f - (float)rng.NextDouble() : -80f + (float)rng.NextDouble();
            }
        }
        return x;
    }

    /// <summary>
    /// Stats, then new weights, then the gradient (the agent's route); then the fused pass with those weights.
    /// Both are compared output by output with the reference.
    /// </summary>
    private static string Agreement(IDistillBackend backend, DistillInputs x, DistillHyper h, bool[]? rowsToCompare = null)
    {
        using var session = backend.CreateSession(x.Shape);
        session.Upload(x);
        var stats = new DistillStats(x.Shape);
        var grads = new DistillGrads(x.Shape);

        session.PoisonOutputs();
        session.Stats(h);
        var rng = new Random(x.Shape.B * 7919 + x.Shape.C);
        var wl = x.Wl.Select(_ => (float)(0.1 + rng.NextDouble())).ToArray();
        var wf = x.Wf.Select(_ => (float)(0.1 + rng.NextDouble())).ToArray();
        wl.CopyTo(x.Wl, 0);
        wf.CopyTo(x.Wf, 0);
        session.UploadWeights(wl, wf);
        session.Gradient(h);
        session.DownloadStats(stats);
        session.DownloadGrads(grads);

        var x64 = ReferenceDistill.Inputs64.From(x);
        var refStats = ReferenceDistill.ComputeStats(x64, h);
        var refGrads = ReferenceDistill.ComputeGrads(x64, refStats, h);
        double worstTwoPass = Compare(backend, x64, refStats, refGrads, stats, grads, rowsToCompare, "two-pass");

        session.PoisonOutputs();
        session.Fused(h);
        session.DownloadStats(stats);
        session.DownloadGrads(grads);
        double worstFused = Compare(backend, x64, refStats, refGrads, stats, grads, rowsToCompare, "fused");
        return $"two-pass and fused agree with float64: worst relative error {worstTwoPass:E1} / {worstFused:E1} (T={h.Temperature:F2})";
    }

    private static string EveryRowIgnored(IDistillBackend backend, DistillShape shape, int seed)
    {
        var x = RandomInputs(shape, seed, extreme: false);
        Array.Fill(x.Y, -1);
        string detail = Agreement(backend, x, Hyper(seed));
        return $"gradients and row losses exactly 0; {detail}";
    }

    /// <summary>
    /// NaN, +Inf and -Inf in a teacher's logits, in a feature slice, in the student's logits: the contract's
    /// outputs turn NaN, and every untouched row still agrees with the reference.
    /// </summary>
    private static string NonFinite(IDistillBackend backend, DistillShape shape, int seed)
    {
        var x = RandomInputs(shape, seed, extreme: false);
        int B = shape.B, K = shape.K, C = shape.C;
        if (B < 10 || K < 4) throw new ArgumentException($"the non-finite case needs B >= 10 and K >= 4 (got {shape})");
        var poisoned = new bool[B];
        var lseT = new List<(int B, int K)>();
        var feature = new List<(int B, int K)>();
        var student = new List<int>();
        void Teacher(int b, int k, int c, float v) { x.Zt[(k * B + b) * C + c] = v; lseT.Add((b, k)); poisoned[b] = true; }
        Teacher(1, 0, 5, float.NaN);
        Teacher(2, K - 1, 0, float.PositiveInfinity);
        Teacher(3, 2, C - 1, float.NegativeInfinity);
        x.Fs[5 * shape.F + shape.FeatureOffset[1] + 3] = float.NaN; feature.Add((5, 1)); poisoned[5] = true;
        x.Ft[6 * shape.F + shape.FeatureOffset[3]] = float.NegativeInfinity; feature.Add((6, 3)); poisoned[6] = true;
        x.Zs[8 * C + 17] = float.NegativeInfinity; student.Add(8); poisoned[8] = true;
        x.Zs[9 * C] = float.PositiveInfinity; student.Add(9); poisoned[9] = true;

        var h = Hyper(seed);
        using var session = backend.CreateSession(shape);
        session.Upload(x);
        var stats = new DistillStats(shape);
        foreach (var pass in new[] { "stats", "fused" })
        {
            session.PoisonOutputs();
            if (pass == "stats") session.Stats(h); else session.Fused(h);
            session.DownloadStats(stats);
            foreach (var (b, k) in lseT)
                if (!float.IsNaN(stats.LseT[b * K + k])) throw new MtkdException($"{pass}: lse_t[{b},{k}] = {stats.LseT[b * K + k]}, expected NaN");
            foreach (var (b, k) in feature)
                if (!float.IsNaN(stats.Cos[b * K + k]) || !float.IsNaN(stats.Mse[b * K + k]))
                    throw new MtkdException($"{pass}: cos/mse[{b},{k}] = {stats.Cos[b * K + k]}/{stats.Mse[b * K + k]}, expected NaN");
            foreach (int b in student)
                if (!float.IsNaN(stats.LseS1[b]) || !float.IsNaN(stats.LseST[b]))
                    throw new MtkdException($"{pass}: lse_s1/lse_st[{b}] = {stats.LseS1[b]}/{stats.LseST[b]}, expected NaN");
        }
        var clean = poisoned.Select(p => !p).ToArray();
        string detail = Agreement(backend, x, h, clean);
        return $"NaN/+Inf/-Inf reach lse_t, cos, mse, lse_s; other rows: {detail}";
    }

    private static double Compare(IDistillBackend backend, ReferenceDistill.Inputs64 x64, ReferenceDistill.Stats64 rs,
        ReferenceDistill.Grads64 rg, DistillStats s, DistillGrads g, bool[]? rows, string route)
    {
        double statsTol = backend.ApproximateMath ? ApproximateTolerance : StatsTolerance;
        double gradTol = backend.ApproximateMath ? ApproximateTolerance : GradTolerance;
        double gradFloor = AbsoluteFloor * x64.InverseCountedRows();
        int B = x64.Shape.B;
        double worst = 0;
        foreach (var ((name, want), (_, got)) in ReferenceDistill.Named(rs).Zip(s.Named()))
            worst = Math.Max(worst, CompareOne($"{route} {name}", want, got, B, rows, statsTol, AbsoluteFloor));
        foreach (var ((name, want), (_, got)) in ReferenceDistill.Named(rg).Zip(g.Named()))
            worst = Math.Max(worst, CompareOne($"{route} {name}", want, got, B, rows, gradTol, gradFloor));
        return worst;
    }

    /// <summary>
    /// max|got - ref| &lt;= tolerance * max|ref| + floor over the compared rows (each output is [B, ...] row-major);
    /// non-finite values must sit where the reference has them; an all-zero reference must be matched exactly.
    /// </summary>
    public static double CompareOne(string what, double[] want, float[] got, int rowCount, bool[]? rows, double tolerance, double floor)
    {
        if (want.Length != got.Length) throw new MtkdException($"{what}: {got.Length} values, reference has {want.Length}");
        int perRow = want.Length / rowCount;
        double maxRef = 0, maxErr = 0;
        int worst = -1;
        for (int i = 0; i < want.Length; i++)
        {
            if (rows is not null && !rows[i / perRow]) continue;
            double w = (float)want[i]; // a float32 output can at best hold the reference rounded to float32
            bool wantFinite = double.IsFinite(w), gotFinite = float.IsFinite(got[i]);
            if (wantFinite != gotFinite || (!wantFinite && !w.Equals((double)got[i])))
                throw new MtkdException($"{what}[{i}]: got {got[i]}, reference {w}");
            if (!wantFinite) continue;
            maxRef = Math.Max(maxRef, Math.Abs(w));
            double err = Math.Abs(got[i] - w);
            if (err > maxErr) { maxErr = err; worst = i; }
        }
        double relative = maxRef > 0 ? maxErr / maxRef : maxErr;
        bool ok = maxRef > 0 ? maxErr <= tolerance * maxRef + floor : maxErr == 0;
        if (!ok)
            throw new MtkdException($"{what}: max relative error {relative:E3} > {tolerance:E1} at [{worst}] (got {got[worst]}, reference {want[worst]:G9})");
        return relative;
    }
}
