using System.Text;

namespace MtkdRl.Reports;

/// <summary>One teacher of the demo's pool, as its report lists it.</summary>
public sealed record DemoTeacher(string Name, string Spec, int EmbeddingWidth, double TestAccuracy);

/// <summary>What `mtkd demo` writes above and below its comparison table.</summary>
public static class DemoReport
{
    /// <summary>The teacher pool as a markdown table, for the report's preface.</summary>
    public static string PoolMarkdown(IEnumerable<DemoTeacher> teachers)
    {
        var sb = new StringBuilder("Teacher pool (quick preset):\n\n| teacher | spec | D | test accuracy |\n|---|---|---:|---:|\n");
        foreach (var t in teachers)
            sb.Append($"| {t.Name} | {t.Spec} | {t.EmbeddingWidth} | {100 * t.TestAccuracy:0.00} % |\n");
        return sb.ToString();
    }

    /// <summary>
    /// How much this table can tell: how far the best teacher is above the student alone, what one test row is
    /// worth, and how far seeds of one strategy spread. On the slice all three are of the size of the gaps between
    /// strategies, and a reader should know that before ranking them.
    /// </summary>
    public static string Reading(Comparison comparison, double bestTeacher, int testRows)
    {
        var alone = comparison.Rows.FirstOrDefault(r => r.Strategy == "none");
        string gap = alone is null ? "" : $", {100 * (bestTeacher - alone.MeanAccuracy):+0.0;-0.0} points from the student alone";
        double spread = comparison.Rows.Where(r => double.IsFinite(r.StdAccuracy)).Select(r => r.StdAccuracy).DefaultIfEmpty(double.NaN).Max();
        string seeds = double.IsFinite(spread) ? $", and the seeds of one strategy spread by up to {100 * spread:0.00} points (std)" : "";
        return $"Reading: the best teacher scores {100 * bestTeacher:0.00} %{gap}; one of the {testRows:N0} test images is "
            + $"{100.0 / testRows:0.00} points{seeds}. Gaps of a few tenths of a point are not resolved here; docs/RESULTS.md "
            + "compares the strategies on the full Fashion-MNIST with the default pool.";
    }
}
