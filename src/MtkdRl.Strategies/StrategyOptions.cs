namespace MtkdRl.Strategies;

/// <summary>What <see cref="StrategyCatalog.Create"/> needs beyond the name and K.</summary>
public sealed record StrategyOptions
{
    /// <summary>"fixed" weights as a comma list ("1,2,1"); finite, non-negative, normalised to sum 1.</summary>
    public string? FixedWeights { get; init; }

    /// <summary>Class count C (the paper agent's state holds teacher logits).</summary>
    public int Classes { get; init; }

    /// <summary>Teacher embedding widths D[k] (the paper agent's state holds teacher embeddings).</summary>
    public IReadOnlyList<int>? EmbeddingWidths { get; init; }

    /// <summary>
    /// ebkd and mtkd-rl-paper's first epoch: weight rows that sum to 1 like every other strategy's, instead of the
    /// K-1 and K of their reference code.
    /// </summary>
    public bool UnitRows { get; init; }

    /// <summary>Seed of the agents' initialisation and sampling.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Settings of mtkd-rl-paper (its Dynamic flag is the CLI's --dynamic).</summary>
    public PaperAgentConfig Paper { get; init; } = new();

    /// <summary>Settings of mtkd-rl-ppo.</summary>
    public PpoConfig Ppo { get; init; } = new();
}
