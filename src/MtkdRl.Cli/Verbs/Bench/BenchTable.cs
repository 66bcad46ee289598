using MtkdRl.Backends;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs.Bench;

/// <summary>The console table of `mtkd bench kernels`.</summary>
public static class BenchTable
{
    public static Table Render(IEnumerable<KernelBenchRecord> records)
    {
        var t = new Table().Border(TableBorder.Rounded);
        foreach (var col in new[] { "shape B,K,C,D", "op", "backend", "median ms", "p20 ms", "p80 ms", "MB moved", "GB/s", "of copy", "max rel err", "n" })
            t.AddColumn(new TableColumn(col).RightAligned());
        foreach (var r in records)
        {
            t.AddRow($"{r.B},{r.K},{r.C},{r.D}" + (r.Images > 0 ? $"/{r.Images}" : ""), r.Op, Markup.Escape(r.Variant),
                F(r.MedianMs), F(r.P20Ms), F(r.P80Ms), (r.Bytes / 1e6).ToString("F2"), r.Gbps.ToString("F2"), r.Roofline.ToString("P0"),
                double.IsFinite(r.MaxRelErr) ? r.MaxRelErr.ToString("E1") : "[red]non-finite[/]", r.Repeats.ToString());
        }
        return t;
    }

    private static string F(double ms) => ms >= 100 ? ms.ToString("F1") : ms >= 1 ? ms.ToString("F3") : ms.ToString("F4");
}
