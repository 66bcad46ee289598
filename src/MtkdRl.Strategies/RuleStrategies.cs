namespace MtkdRl.Strategies;

/// <summary>Base of the strategies that never learn: no feedback, no epoch work, state is just the name.</summary>
public abstract class RuleStrategy : IWeightingStrategy
{
    protected RuleStrategy(int k) => K = k;

    public abstract string Name { get; }
    public int K { get; }
    public bool IsAgent => false;
    public virtual bool UsesTeachers => true;
    public abstract bool NeedsStats { get; }
    public bool NeedsTeacherOutputs => false;
    public bool NeedsProbeLoss => false;

    public abstract void Weights(in WeightingContext context, Span<float> wl, Span<float> wf);

    public AgentUpdateLog? Learn(in LearnFeedback feedback) => null;
    public AgentUpdateLog? EndEpoch() => null;
    public StrategyState Export() => new(Name);
    public void Import(StrategyState state) => state.CheckStrategy(Name);

    protected int Rows(in WeightingContext context, Span<float> wl, Span<float> wf)
    {
        int b = context.Stats.Shape.B;
        StrategyChecks.Batch(Name, K, context.Stats.Shape, wl, wf);
        return b;
    }
}

/// <summary>"none": the student alone; every weight 0, so only the cross-entropy term trains it.</summary>
public sealed class NoneStrategy(int k) : RuleStrategy(k)
{
    public override string Name => "none";
    public override bool UsesTeachers => false;
    public override bool NeedsStats => false;

    public override void Weights(in WeightingContext context, Span<float> wl, Span<float> wf)
    {
        int b = Rows(context, wl, wf);
        wl[..(b * K)].Clear();
        wf[..(b * K)].Clear();
    }
}

/// <summary>
/// A constant row of weights for every row: "aver" (1/K each) or "fixed" (user weights normalised to sum 1).
/// Rows sum to 1.
/// </summary>
public sealed class ConstantStrategy : RuleStrategy
{
    private readonly float[] _row;

    public ConstantStrategy(string name, float[] row) : base(row.Length)
    {
        Name = name;
        _row = (float[])row.Clone();
    }

    public override string Name { get; }
    public override bool NeedsStats => false;

    /// <summary>The weight row every batch row receives.</summary>
    public IReadOnlyList<float> Row => _row;

    public override void Weights(in WeightingContext context, Span<float> wl, Span<float> wf)
    {
        int b = Rows(context, wl, wf);
        for (int r = 0; r < b; r++)
        {
            _row.CopyTo(wl.Slice(r * K, K));
            _row.CopyTo(wf.Slice(r * K, K));
        }
    }
}

/// <summary>
/// "ca-mkd" (confidence-aware MKD, Zhang et al. 2022): w[b,k] = (1 - softmax_k(CEt[b,:])) / (K-1), the same
/// for wl and wf. Rows sum to 1; with K = 1 the single teacher gets 1. Ignored rows (CEt = 0) get 1/K.
/// </summary>
public sealed class ConfidenceAwareStrategy(int k) : RuleStrategy(k)
{
    public override string Name => "ca-mkd";
    public override bool NeedsStats => true;

    public override void Weights(in WeightingContext context, Span<float> wl, Span<float> wf)
    {
        int b = Rows(context, wl, wf);
        var ceT = context.Stats.CeT.AsSpan();
        for (int r = 0; r < b; r++)
        {
            var row = wl.Slice(r * K, K);
            TeacherTerms.Confidence(ceT.Slice(r * K, K), row);
            row.CopyTo(wf.Slice(r * K, K));
        }
    }
}

/// <summary>
/// "ebkd" (entropy-based, as the public CA-MKD code computes it): w[b,k] = 1 - Ht[b,k] / sum_j Ht[b,j], the same
/// for wl and wf. Rows sum to K-1, the scale the public code trains with, kept so results compare with it
/// (with K = 2 the rows sum to 1); with unitRows every weight is divided by K-1 so rows sum to 1 as aver's do.
/// Two cases the formula leaves open: K = 1 gives the single teacher 1, and a row where every teacher is certain
/// (sum Ht = 0) gives every teacher 1 - 1/K (1/K with unitRows).
/// </summary>
public sealed class EntropyBasedStrategy(int k, bool unitRows = false) : RuleStrategy(k)
{
    private readonly float _scale = unitRows && k > 1 ? 1f / (k - 1) : 1f;

    public override string Name => "ebkd";
    public override bool NeedsStats => true;

    public override void Weights(in WeightingContext context, Span<float> wl, Span<float> wf)
    {
        int b = Rows(context, wl, wf);
        var ht = context.Stats.Ht.AsSpan();
        for (int r = 0; r < b; r++)
        {
            var h = ht.Slice(r * K, K);
            var row = wl.Slice(r * K, K);
            if (K == 1) row[0] = 1f;
            else
            {
                float sum = 0;
                foreach (var v in h) sum += v;
                if (sum > 0) for (int j = 0; j < K; j++) row[j] = (1f - h[j] / sum) * _scale;
                else row.Fill((1f - 1f / K) * _scale);
            }
            row.CopyTo(wf.Slice(r * K, K));
        }
    }
}
