using System.Globalization;

namespace MtkdRl.Core.Distill;

/// <summary>One parameter of a divergence: its name, default and open interval of allowed values.</summary>
public sealed record DivergenceParameter(string Name, float Default, float Above, float Below)
{
    public bool Allows(float v) => float.IsFinite(v) && v > Above && v < Below;

    /// <summary>The allowed values in words: "lie in (0, 1)" or "be finite and > 0".</summary>
    public string Range => float.IsPositiveInfinity(Below)
        ? $"be finite and > {DistillLoss.Number(Above)}"
        : $"lie in ({DistillLoss.Number(Above)}, {DistillLoss.Number(Below)})";
}

/// <summary>One logit divergence of the catalog: its command-line name and its parameters (at most two:
/// the first is stored in <see cref="DistillLoss.DivAlpha"/> or, when it is the only one, <see cref="DistillLoss.DivBeta"/>).</summary>
public sealed record DivergenceEntry(string Name, LogitDivergence Kind, string Summary, IReadOnlyList<DivergenceParameter> Parameters)
{
    /// <summary>The loss with this divergence, the given parameter values (defaults where null) and mse features.</summary>
    public DistillLoss Make(IReadOnlyList<float>? values = null)
    {
        float Value(int i) => values is not null && i < values.Count ? values[i] : Parameters[i].Default;
        return Parameters.Count switch
        {
            0 => new DistillLoss(Kind, 0f, 0f, FeatureLoss.Mse),
            1 => new DistillLoss(Kind, 0f, Value(0), FeatureLoss.Mse),
            _ => new DistillLoss(Kind, Value(0), Value(1), FeatureLoss.Mse),
        };
    }

    public IReadOnlyList<float> Values(DistillLoss loss) => Parameters.Count switch
    {
        0 => [],
        1 => [loss.DivBeta],
        _ => [loss.DivAlpha, loss.DivBeta],
    };

    public string Format(DistillLoss loss)
    {
        var values = Values(loss);
        if (values.Count == 0) return Name;
        return Name + ":" + string.Join(",", Parameters.Select((p, i) => $"{p.Name}={DistillLoss.Number(values[i])}"));
    }

    public void Check(DistillLoss loss)
    {
        var values = Values(loss);
        for (int i = 0; i < values.Count; i++)
            if (!Parameters[i].Allows(values[i]))
                throw new MtkdInputException($"--kd-loss {Name}: {Parameters[i].Name} must {Parameters[i].Range} (got {DistillLoss.Number(values[i])})");
        if (Parameters.Count < 2 && loss.DivAlpha != 0f || Parameters.Count == 0 && loss.DivBeta != 0f)
            throw new MtkdInputException($"--kd-loss {Name}: takes {Parameters.Count} parameter(s)");
    }
}

/// <summary>One feature loss of the catalog.</summary>
public sealed record FeatureLossEntry(string Name, FeatureLoss Kind, string Summary);

/// <summary>
/// Every loss the fused op knows, by the one name used on the command line, in checkpoints, in the native
/// args (mtkd_divergence / mtkd_feature_loss) and in the tests: adding an entry here adds it to the reference
/// finite-difference tests and to the agreement matrix of every backend (docs/ADDING_A_LOSS.md).
/// </summary>
public static class DistillLossCatalog
{
    public static readonly IReadOnlyList<DivergenceEntry> Divergences =
    [
        new("kl", LogitDivergence.Kl, "KL(teacher || student) at temperature T, times T^2", []),
        new("reverse-kl", LogitDivergence.ReverseKl, "KL(student || teacher) at temperature T, times T^2", []),
        new("jsd", LogitDivergence.Jsd, "beta KL(pt || M) + (1 - beta) KL(ps || M), M = beta pt + (1 - beta) ps, times T^2",
            [new DivergenceParameter("beta", 0.5f, 0f, 1f)]),
        new("dkd", LogitDivergence.Dkd, "decoupled KD: alpha TCKD + beta NCKD (Zhao et al., CVPR 2022), times T^2",
            [new DivergenceParameter("alpha", 1f, 0f, float.PositiveInfinity), new DivergenceParameter("beta", 8f, 0f, float.PositiveInfinity)]),
    ];

    public static readonly IReadOnlyList<FeatureLossEntry> FeatureLosses =
    [
        new("mse", FeatureLoss.Mse, "(1/D) sum (fs - ft)^2"),
        new("cosine", FeatureLoss.Cosine, "1 - cos(fs, ft)"),
        new("smooth-l1", FeatureLoss.SmoothL1, "(1/D) sum huber_1(fs - ft)"),
    ];

    public static DivergenceEntry Entry(LogitDivergence kind) =>
        Divergences.FirstOrDefault(e => e.Kind == kind) ?? throw new MtkdInputException($"unknown logit divergence {(int)kind}");

    public static FeatureLossEntry Entry(FeatureLoss kind) =>
        FeatureLosses.FirstOrDefault(e => e.Kind == kind) ?? throw new MtkdInputException($"unknown feature loss {(int)kind}");

    /// <summary>
    /// Parses `NAME[:params]` of --kd-loss: params are comma-separated values in the entry's order or
    /// name=value pairs (e.g. "jsd:0.3", "dkd:alpha=1,beta=8"); missing ones take their defaults.
    /// </summary>
    public static DistillLoss ParseDivergence(string text, FeatureLoss feature = FeatureLoss.Mse)
    {
        string name = text, args = "";
        int colon = text.IndexOf(':');
        if (colon >= 0) { name = text[..colon]; args = text[(colon + 1)..]; }
        var entry = Divergences.FirstOrDefault(e => e.Name == name.Trim().ToLowerInvariant())
            ?? throw new MtkdInputException($"--kd-loss: unknown divergence '{name}' (known: {string.Join(", ", Divergences.Select(e => e.Name))})");
        var values = entry.Parameters.Select(p => p.Default).ToArray();
        var parts = args.Length == 0 ? [] : args.Split(',');
        if (parts.Length > values.Length)
            throw new MtkdInputException($"--kd-loss {entry.Name}: takes {values.Length} parameter(s), got {parts.Length}");
        for (int i = 0; i < parts.Length; i++)
        {
            string part = parts[i].Trim();
            int slot = i;
            int eq = part.IndexOf('=');
            if (eq >= 0)
            {
                string key = part[..eq].Trim();
                slot = entry.Parameters.ToList().FindIndex(p => p.Name == key);
                if (slot < 0)
                    throw new MtkdInputException($"--kd-loss {entry.Name}: unknown parameter '{key}' (known: {string.Join(", ", entry.Parameters.Select(p => p.Name))})");
                part = part[(eq + 1)..].Trim();
            }
            if (!float.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out values[slot]))
                throw new MtkdInputException($"--kd-loss {entry.Name}: '{parts[i]}' is not a number");
        }
        var loss = entry.Make(values) with { Feature = feature };
        loss.Validate();
        return loss;
    }

    /// <summary>Parses --feature-loss NAME.</summary>
    public static FeatureLoss ParseFeature(string text) =>
        FeatureLosses.FirstOrDefault(e => e.Name == text.Trim().ToLowerInvariant())?.Kind
        ?? throw new MtkdInputException($"--feature-loss: unknown feature loss '{text}' (known: {string.Join(", ", FeatureLosses.Select(e => e.Name))})");

    /// <summary>Parses both options (null = the default) into one loss.</summary>
    public static DistillLoss Parse(string? kdLoss, string? featureLoss)
    {
        var feature = featureLoss is null ? FeatureLoss.Mse : ParseFeature(featureLoss);
        return kdLoss is null ? DistillLoss.Default with { Feature = feature } : ParseDivergence(kdLoss, feature);
    }

    /// <summary>
    /// Every divergence with its default parameters paired with every feature loss: what the tests iterate over,
    /// so an entry added to the catalog is tested on every backend without new test code.
    /// </summary>
    public static IEnumerable<DistillLoss> AllCombinations() =>
        from d in Divergences from f in FeatureLosses select d.Make() with { Feature = f.Kind };
}
