using MtkdRl.Reports;
using Spectre.Console;

namespace MtkdRl.Cli.Distill;

/// <summary>The comparison as a console table (cells: <see cref="ComparisonRows"/>).</summary>
public static class ComparisonTable
{
    public static Table Render(Comparison c, string title)
    {
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(title));
        table.AddColumns([.. ComparisonRows.Header(c)]);
        for (int i = 1; i < table.Columns.Count; i++) table.Columns[i].RightAligned();
        foreach (var cells in ComparisonRows.Cells(c))
            table.AddRow([.. cells.Select(Markup.Escape)]);
        return table;
    }
}
