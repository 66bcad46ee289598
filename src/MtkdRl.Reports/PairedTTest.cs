namespace MtkdRl.Reports;

/// <summary>
/// The paired t-test of two strategies run on the same seeds: each seed gives one difference d = a - b (the two runs
/// share the seed's initialisation and data order), t = mean(d) / (sd(d) / sqrt(n)) with n - 1 degrees of freedom,
/// and the two-sided p-value is 2 P(T_(n-1) > |t|). Where the seed moves every strategy together, this is the test
/// that sees a lead the seeds share; Welch's test (<see cref="WelchTest"/>) counts that shared spread against it.
/// NaN when fewer than two seeds are common to both sides, or every difference is the same (no spread to judge by).
/// </summary>
public static class PairedTTest
{
    /// <summary>The test over matched pairs: <paramref name="a"/>[i] and <paramref name="b"/>[i] are one seed's two runs.</summary>
    public static (double T, double DegreesOfFreedom, double P) TwoSided(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        if (a.Count != b.Count) throw new ArgumentException($"paired samples of {a.Count} and {b.Count} values");
        if (a.Count < 2) return (double.NaN, double.NaN, double.NaN);
        var d = a.Zip(b, (x, y) => x - y).ToList();
        var (mean, variance) = WelchTest.MeanVariance(d);
        if (!(variance > 0)) return (double.NaN, double.NaN, double.NaN);
        double t = mean / Math.Sqrt(variance / d.Count);
        double df = d.Count - 1;
        return (t, df, WelchTest.TwoSidedP(t, df));
    }

    /// <summary>The test over the seeds both strategies ran, each seed's final test figures paired.</summary>
    public static double BySeed(IEnumerable<RunRecord> a, IEnumerable<RunRecord> b)
    {
        var bySeed = b.GroupBy(r => r.Seed).ToDictionary(g => g.Key, g => g.First().FinalTestAccuracy);
        var pairs = a.Where(r => bySeed.ContainsKey(r.Seed)).GroupBy(r => r.Seed).OrderBy(g => g.Key)
            .Select(g => (A: g.First().FinalTestAccuracy, B: bySeed[g.Key])).ToList();
        return TwoSided(pairs.Select(p => p.A).ToList(), pairs.Select(p => p.B).ToList()).P;
    }
}
