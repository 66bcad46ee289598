using System.Diagnostics;
using MtkdRl.Core;
using MtkdRl.Backends.Agreement;
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
/// Inputs, tolerances and the comparison are <see cref="AgreementInputs"/> and <see cref="BackendAgreement"/>, as in the tests.
/// </summary>
public static class BackendSelfCheck
{
    /// <param name="finished">Called as each check ends, so a run cut short by a time limit still shows what passed.</param>
    /// <param name="losses">Also every catalog loss other than kl + mse (docs/DESIGN.md §7) on the ragged-width case.</param>
    public static IReadOnlyList<SelfCheckResult> Run(IDistillBackend backend, IEnumerable<DistillShape> shapes, int seed, bool small = false,
        Action<SelfCheckResult, TimeSpan>? finished = null, bool losses = false)
    {
        var (ragged, edge) = AgreementInputs.OddShapes(small);
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
        if (losses)
            foreach (var loss in DistillLossCatalog.AllCombinations().Where(l => !l.IsDefault))
            {
                int l = rng.Next();
                results.Add(Check(backend, $"{loss}, ragged widths {ragged} seed {l}",
                    () => Agreement(backend, RandomInputs(ragged, l, extreme: false), Hyper(l) with { Loss = loss })));
            }
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

    private static DistillHyper Hyper(int seed) => AgreementInputs.Hyper(seed);

    /// <summary>Gaussian inputs with 10% ignored rows (row 0 always counted), or ±80 logits with one winner per row.</summary>
    private static DistillInputs RandomInputs(DistillShape shape, int seed, bool extreme) =>
        AgreementInputs.Create(shape, seed, extreme ? LogitStyle.Extreme : LogitStyle.Normal, ignoredFraction: 0.1);

    /// <summary>
    /// Stats, then new weights, then the gradient (the agent's route); then the fused pass with those weights.
    /// Both are compared output by output with the reference.
    /// </summary>
    private static string Agreement(IDistillBackend backend, DistillInputs x, DistillHyper h, bool[]? rowsToCompare = null)
    {
        var results = BackendAgreement.Check(backend, x, h, "", rowsToCompare, reweightSeed: x.Shape.B * 7919 + x.Shape.C).ThrowIfFailed();
        int half = results.Count / 2;
        double worstTwoPass = BackendAgreement.WorstRelativeError(results.Take(half));
        double worstFused = BackendAgreement.WorstRelativeError(results.Skip(half));
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
}
