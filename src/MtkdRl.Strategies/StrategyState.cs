using MtkdRl.Core;

namespace MtkdRl.Strategies;

/// <summary>
/// A strategy's full state for a checkpoint: named float arrays (parameters, optimiser moments, buffers),
/// named scalars (counters, running statistics; doubles survive a JSON round trip exactly) and the random
/// generator's state. The strategy name is kept so a checkpoint of another strategy is refused.
/// </summary>
public sealed class StrategyState
{
    public StrategyState(string strategy) => Strategy = strategy;

    public string Strategy { get; }
    public Dictionary<string, float[]> Arrays { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, double> Scalars { get; } = new(StringComparer.Ordinal);
    public ulong[]? RngState { get; set; }

    /// <summary>Array <paramref name="name"/>, which must have exactly <paramref name="length"/> elements.</summary>
    public float[] Array(string name, int length)
    {
        if (!Arrays.TryGetValue(name, out var a))
            throw new MtkdInputException($"{Strategy} state: array '{name}' is missing");
        if (a.Length != length)
            throw new MtkdInputException($"{Strategy} state: array '{name}' has {a.Length} elements, expected {length} (another configuration?)");
        return a;
    }

    public double Scalar(string name) =>
        Scalars.TryGetValue(name, out var v) ? v : throw new MtkdInputException($"{Strategy} state: scalar '{name}' is missing");

    /// <summary>Copies array <paramref name="name"/> into <paramref name="destination"/> (lengths must agree).</summary>
    public void CopyTo(string name, Span<float> destination) => Array(name, destination.Length).CopyTo(destination);

    public Rng RestoreRng() =>
        RngState is { } s ? Rng.FromState(s) : throw new MtkdInputException($"{Strategy} state: random generator state is missing");

    public void CheckStrategy(string expected)
    {
        if (Strategy != expected)
            throw new MtkdInputException($"strategy state belongs to '{Strategy}', not '{expected}'");
    }
}
