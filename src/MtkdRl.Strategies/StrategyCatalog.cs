using System.Globalization;
using MtkdRl.Core;

namespace MtkdRl.Strategies;

/// <summary>Strategy names the CLI accepts, and the one place that builds them.</summary>
public static class StrategyCatalog
{
    /// <summary>Every name, in the order tables list them.</summary>
    public static IReadOnlyList<string> Names { get; } =
        ["none", "aver", "fixed", "ca-mkd", "ebkd", PaperAgent.CatalogName, PpoAgent.CatalogName];

    public static IWeightingStrategy Create(string name, int k, StrategyOptions? options = null)
    {
        options ??= new StrategyOptions();
        if (k < 1) throw new MtkdInputException($"strategy {name}: teacher count K must be at least 1 (got {k})");
        return name switch
        {
            "none" => new NoneStrategy(k),
            "aver" => new ConstantStrategy("aver", Enumerable.Repeat(1f / k, k).ToArray()),
            "fixed" => new ConstantStrategy("fixed", ParseFixed(options.FixedWeights, k)),
            "ca-mkd" => new ConfidenceAwareStrategy(k),
            "ebkd" => new EntropyBasedStrategy(k, options.UnitRows),
            PaperAgent.CatalogName => CreatePaper(k, options),
            PpoAgent.CatalogName => new PpoAgent(k, options.Ppo, options.Seed),
            _ => throw new MtkdInputException($"unknown strategy '{name}' (known: {string.Join(", ", Names)})"),
        };
    }

    private static PaperAgent CreatePaper(int k, StrategyOptions options)
    {
        if (options.EmbeddingWidths is null || options.Classes < 2)
            throw new MtkdInputException($"strategy {PaperAgent.CatalogName}: needs the class count and the teachers' embedding widths");
        return new PaperAgent(k, options.Classes, options.EmbeddingWidths, options.Paper with { UnitRows = options.UnitRows }, options.Seed);
    }

    /// <summary>"1,2,1" -> [0.25, 0.5, 0.25]; one value per teacher, finite, >= 0, not all 0.</summary>
    public static float[] ParseFixed(string? text, int k)
    {
        if (string.IsNullOrWhiteSpace(text))
            throw new MtkdInputException("strategy fixed: weights are missing (give one comma-separated weight per teacher)");
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != k)
            throw new MtkdInputException($"strategy fixed: {parts.Length} weights given for K={k} teachers");
        var w = new double[k];
        for (int i = 0; i < k; i++)
        {
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out w[i]) || !double.IsFinite(w[i]) || w[i] < 0)
                throw new MtkdInputException($"strategy fixed: weight {i + 1} ('{parts[i]}') must be a finite number >= 0");
        }
        double sum = w.Sum();
        if (!(sum > 0) || !double.IsFinite(sum))
            throw new MtkdInputException("strategy fixed: weights sum to 0; at least one must be positive");
        return w.Select(v => (float)(v / sum)).ToArray();
    }
}
