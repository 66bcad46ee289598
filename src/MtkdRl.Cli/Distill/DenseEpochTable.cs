using MtkdRl.Distillation;
using Spectre.Console;

namespace MtkdRl.Cli.Distill;

/// <summary>The per-epoch table a dense `distill` prints at its end, for segmentation and detection alike: epoch, loss, the task's two test metrics, mean teacher weights, seconds.</summary>
internal static class DenseEpochTable
{
    public static void Write<TEpoch>(IAnsiConsole console, DistillRecipe recipe, string data, string outDir, string firstMetric, string secondMetric,
        IReadOnlyList<TEpoch> epochs, Func<TEpoch, (string First, string Second)> metrics) where TEpoch : IDenseEpoch
    {
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape($"{recipe.Strategy}, seed {recipe.Seed}, student {recipe.Student}, scenes {data}"));
        table.AddColumns("epoch", "loss", firstMetric, secondMetric, "mean wl", "seconds");
        foreach (var c in table.Columns) c.RightAligned();
        foreach (var e in epochs)
        {
            var (first, second) = metrics(e);
            table.AddRow($"{e.Epoch}", $"{e.Loss:F4}", first, second, string.Join(" ", e.MeanWl.Select(w => w.ToString("F3"))), $"{e.Seconds:F1}");
        }
        console.Write(table);
        console.MarkupLine(Markup.Escape($"run folder: {outDir}"));
    }
}
