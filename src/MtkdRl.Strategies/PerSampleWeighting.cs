using MtkdRl.Core.Distill;

namespace MtkdRl.Strategies;

/// <summary>
/// Any strategy, deciding once per sample (image) instead of once per row (pixel, location). For a batch whose
/// <see cref="RowGroups"/> map is not the identity it hands the inner strategy S sample rows instead of B rows:
/// every statistic [B,K] and ce_s, lse_s [B] is the mean over the sample's counted rows (label &gt;= 0), the teacher
/// logits [K,B,C] likewise per teacher, the teacher embeddings are the sample's own (given per sample, as the dense
/// step gives its images', or else its first row's), and a sample's label is its most
/// frequent counted row label (the smallest on a tie), -1 when it has no counted row. The inner strategy's [S,K]
/// weights are then written to every row of their sample; rows of a sample without a counted row get 0.
/// <see cref="Learn"/> aggregates its statistics the same way. See docs/DESIGN.md, "Dense tasks".
/// <para>Passes everything through untouched for the identity map (classification) and for strategies whose
/// weights ignore the statistics (none, aver, fixed: the same row of weights for every row is already one per
/// image). Export and Import are the inner strategy's, so a resumed run continues bit for bit.</para>
/// </summary>
public sealed class PerSampleWeighting(IWeightingStrategy inner) : IWeightingStrategy
{
    private DistillStats? _stats, _learnStats;
    private int[] _labels = [];
    private int[] _counts = [];
    private float[] _ft = [], _zt = [], _wl = [], _wf = [];

    /// <summary>The strategy that decides per sample.</summary>
    public IWeightingStrategy Inner { get; } = inner;

    public string Name => Inner.Name;
    public int K => Inner.K;
    public bool IsAgent => Inner.IsAgent;
    public bool UsesTeachers => Inner.UsesTeachers;
    public bool NeedsStats => Inner.NeedsStats;
    public bool NeedsTeacherOutputs => Inner.NeedsTeacherOutputs;
    public bool NeedsProbeLoss => Inner.NeedsProbeLoss;

    public void Weights(in WeightingContext context, Span<float> wl, Span<float> wf)
    {
        var groups = context.Rows;
        if (groups.IsIdentity || !Inner.NeedsStats)
        {
            Inner.Weights(context, wl, wf);
            return;
        }
        var shape = context.Stats.Shape;
        StrategyChecks.Batch(Name, K, shape, wl, wf);
        StrategyChecks.Labels(Name, context.Labels, shape.B);
        int s = groups.Samples, k = K;
        _stats = Aggregate(context.Stats, context.Labels, groups, _stats);
        SampleLabels(context.Labels, groups, shape.C);
        var ft = ReadOnlySpan<float>.Empty;
        var zt = ReadOnlySpan<float>.Empty;
        if (!context.TeacherLogits.IsEmpty)
        {
            Resize(ref _zt, k * s * shape.C);
            for (int t = 0; t < k; t++)
                groups.MeanPerSample(context.TeacherLogits.Slice(t * shape.B * shape.C, shape.B * shape.C), shape.C, context.Labels,
                    _zt.AsSpan(t * s * shape.C, s * shape.C));
            zt = _zt;
        }
        if (context.EmbeddingsPerSample)
        {
            ft = context.TeacherEmbeddings[..(s * shape.F)];
        }
        else if (!context.TeacherEmbeddings.IsEmpty)
        {
            FirstRowPerSample(context.TeacherEmbeddings, shape.F, groups);
            ft = _ft;
        }
        Resize(ref _wl, s * k);
        Resize(ref _wf, s * k);
        Inner.Weights(new WeightingContext(_stats, _labels.AsSpan(0, s), ft, zt), _wl, _wf);
        for (int r = 0; r < shape.B; r++)
        {
            int sample = groups.SampleOf(r);
            var rowWl = wl.Slice(r * k, k);
            var rowWf = wf.Slice(r * k, k);
            if (_labels[sample] < 0)
            {
                rowWl.Clear();
                rowWf.Clear();
                continue;
            }
            _wl.AsSpan(sample * k, k).CopyTo(rowWl);
            _wf.AsSpan(sample * k, k).CopyTo(rowWf);
        }
    }

    public AgentUpdateLog? Learn(in LearnFeedback feedback)
    {
        var groups = feedback.Rows;
        if (groups.IsIdentity || !Inner.NeedsStats) return Inner.Learn(feedback);
        StrategyChecks.Labels(Name, feedback.Labels, feedback.Stats.Shape.B);
        _learnStats = Aggregate(feedback.Stats, feedback.Labels, groups, _learnStats);
        SampleLabels(feedback.Labels, groups, feedback.Stats.Shape.C);
        return Inner.Learn(new LearnFeedback(_learnStats, _labels.AsSpan(0, groups.Samples), feedback.Beta,
            feedback.ProbeLossBefore, feedback.ProbeLossAfter));
    }

    public AgentUpdateLog? EndEpoch() => Inner.EndEpoch();

    public StrategyState Export() => Inner.Export();

    public void Import(StrategyState state) => Inner.Import(state);

    /// <summary>The statistics per sample: each array's mean over the sample's counted rows (0 without one).</summary>
    private static DistillStats Aggregate(DistillStats rows, ReadOnlySpan<int> labels, RowGroups groups, DistillStats? reuse)
    {
        var shape = rows.Shape;
        var stats = reuse is not null && reuse.Shape.B == groups.Samples && reuse.Shape.C == shape.C && reuse.Shape.D.SequenceEqual(shape.D)
            ? reuse
            : new DistillStats(new DistillShape(groups.Samples, shape.C, shape.D));
        foreach (var ((_, source), (_, target)) in rows.Named().Zip(stats.Named()))
            groups.MeanPerSample(source, source.Length / shape.B, labels, target);
        return stats;
    }

    /// <summary>Each sample's label: its most frequent counted row label, the smallest on a tie; -1 without a counted row.</summary>
    private void SampleLabels(ReadOnlySpan<int> labels, RowGroups groups, int classes)
    {
        Resize(ref _labels, groups.Samples);
        Resize(ref _counts, classes);
        for (int s = 0; s < groups.Samples; s++)
        {
            var rows = groups.RowsOf(s);
            if (labels.IsEmpty)
            {
                _labels[s] = rows.IsEmpty ? -1 : 0;
                continue;
            }
            Array.Clear(_counts);
            int best = -1;
            foreach (int r in rows)
            {
                int y = labels[r];
                if (y < 0 || y >= classes) continue;
                _counts[y]++;
                if (best < 0 || _counts[y] > _counts[best] || (_counts[y] == _counts[best] && y < best)) best = y;
            }
            _labels[s] = best;
        }
    }

    /// <summary>Each sample's embedding row [S,F]: its first row's (every row of an image holds the image's), 0 for a sample without rows.</summary>
    private void FirstRowPerSample(ReadOnlySpan<float> ft, int f, RowGroups groups)
    {
        Resize(ref _ft, groups.Samples * f);
        for (int s = 0; s < groups.Samples; s++)
        {
            var rows = groups.RowsOf(s);
            var target = _ft.AsSpan(s * f, f);
            if (rows.IsEmpty) target.Clear();
            else ft.Slice(rows[0] * f, f).CopyTo(target);
        }
    }

    private static void Resize<T>(ref T[] buffer, int length)
    {
        if (buffer.Length != length) buffer = new T[length];
    }
}
