using MtkdRl.Core.Distill;

namespace MtkdRl.Strategies;

/// <summary>
/// Chooses the per-row teacher weights wl (logit KD) and wf (feature KD), [B,K] at b*K+k, from the statistics
/// of the stats pass. Per batch the distillation loop calls, in this order: <see cref="Weights"/> (after the
/// stats pass, before the gradient pass), then <see cref="Learn"/> with the same batch's statistics (after
/// the student step, so a probe loss measured after the step can be passed), and <see cref="EndEpoch"/> once
/// per epoch. Every strategy is deterministic given its seed and its inputs, and its whole state can be
/// exported and imported, so a resumed run continues bit-identically.
/// <para>The distillation loop knows strategies only by the capabilities below (<see cref="UsesTeachers"/>,
/// <see cref="NeedsStats"/>, <see cref="NeedsTeacherOutputs"/>, <see cref="NeedsProbeLoss"/>) and by the metric
/// fields of the logs they return (<see cref="AgentUpdateLog.MetricFields"/>), never by name.</para>
/// </summary>
public interface IWeightingStrategy
{
    /// <summary>Catalog name (e.g. "ca-mkd").</summary>
    string Name { get; }

    /// <summary>Teacher count the strategy was built for.</summary>
    int K { get; }

    /// <summary>True for the strategies that learn (their weights change with training).</summary>
    bool IsAgent { get; }

    /// <summary>
    /// False for a student trained on the labels alone (none): the loop then runs neither the teachers' gather,
    /// nor the projection heads, nor the fused op, and <see cref="Weights"/> is not called.
    /// </summary>
    bool UsesTeachers { get; }

    /// <summary>
    /// False when the weights ignore the statistics (none, aver, fixed): the loop may then use the fused
    /// single pass with weights known in advance.
    /// </summary>
    bool NeedsStats { get; }

    /// <summary>True when <see cref="WeightingContext.TeacherEmbeddings"/> and <see cref="WeightingContext.TeacherLogits"/> must be given.</summary>
    bool NeedsTeacherOutputs { get; }

    /// <summary>
    /// True when <see cref="Learn"/> reads <see cref="LearnFeedback.ProbeLossBefore"/> and
    /// <see cref="LearnFeedback.ProbeLossAfter"/>: the loop then holds rows out of training as a probe batch.
    /// </summary>
    bool NeedsProbeLoss { get; }

    /// <summary>Writes wl and wf ([B,K], B = context.Stats.Shape.B) for one batch.</summary>
    void Weights(in WeightingContext context, Span<float> wl, Span<float> wf);

    /// <summary>
    /// Feedback on the batch last passed to <see cref="Weights"/>. Returns a log record when the agent
    /// updated itself during this call (write it as a JSON line), else null.
    /// </summary>
    AgentUpdateLog? Learn(in LearnFeedback feedback);

    /// <summary>Called after the last batch of an epoch; an agent may update here (returns its log, else null).</summary>
    AgentUpdateLog? EndEpoch();

    /// <summary>Everything needed to continue exactly: parameters, optimiser moments, buffers, counters, random state.</summary>
    StrategyState Export();

    /// <summary>Restores <see cref="Export"/>'s output; throws MtkdInputException when it belongs to another configuration.</summary>
    void Import(StrategyState state);
}

/// <summary>
/// One batch as a strategy sees it. Only <see cref="Stats"/> is always required; the spans are read during the
/// call, never kept (a ref struct, so the distillation step's own buffers can be passed without copies).
/// </summary>
public readonly ref struct WeightingContext
{
    /// <param name="stats">Output of the stats pass (kl, ce_t, h_t, conf, hit, cos, mse, lse_t [B,K]; ce_s [B]).</param>
    /// <param name="labels">y [B] (-1 = ignored row); empty means every row counts.</param>
    /// <param name="teacherEmbeddings">ft [B,F], teacher k in columns [FeatureOffset[k], FeatureOffset[k]+D[k]); or [S,F],
    /// one row per sample, with <paramref name="embeddingsPerSample"/>.</param>
    /// <param name="teacherLogits">zt [K,B,C], teacher-major.</param>
    /// <param name="rows">Which sample each row belongs to; null: every row is its own sample.</param>
    /// <param name="embeddingsPerSample">The embeddings are one row per sample of <paramref name="rows"/> (a dense
    /// step's images), the same for every row of the sample.</param>
    public WeightingContext(DistillStats stats, ReadOnlySpan<int> labels = default,
        ReadOnlySpan<float> teacherEmbeddings = default, ReadOnlySpan<float> teacherLogits = default, RowGroups? rows = null,
        bool embeddingsPerSample = false)
    {
        Stats = stats;
        Labels = labels;
        TeacherEmbeddings = teacherEmbeddings;
        TeacherLogits = teacherLogits;
        Rows = rows ?? RowGroups.Identity(stats.Shape.B);
        EmbeddingsPerSample = embeddingsPerSample;
        if (Rows.Rows != stats.Shape.B) throw new ArgumentException($"row-to-sample map has {Rows.Rows} rows, the batch {stats.Shape.B}");
    }

    public DistillStats Stats { get; }
    public ReadOnlySpan<int> Labels { get; }
    public ReadOnlySpan<float> TeacherEmbeddings { get; }
    public ReadOnlySpan<float> TeacherLogits { get; }

    /// <summary>Whether <see cref="TeacherEmbeddings"/> holds one row per sample [S,F] instead of one per row [B,F].</summary>
    public bool EmbeddingsPerSample { get; }

    /// <summary>Rows of <see cref="TeacherEmbeddings"/>: S with <see cref="EmbeddingsPerSample"/>, else B.</summary>
    public int EmbeddingRows => EmbeddingsPerSample ? Rows.Samples : Stats.Shape.B;

    /// <summary>The teachers' embeddings [F] of row <paramref name="row"/> (its sample's with <see cref="EmbeddingsPerSample"/>).</summary>
    public ReadOnlySpan<float> TeacherEmbeddingOfRow(int row)
    {
        int f = Stats.Shape.F;
        int at = EmbeddingsPerSample ? Rows.SampleOf(row) : row;
        return TeacherEmbeddings.Slice(at * f, f);
    }

    /// <summary>The row-to-sample map of the batch (the identity for classification).</summary>
    public RowGroups Rows { get; }
}

/// <summary>What the reward needs, from the same forward pass as the weights.</summary>
public readonly ref struct LearnFeedback
{
    /// <param name="stats">The statistics the weights were chosen from (ce_s, kl and mse enter the paper's reward).</param>
    /// <param name="labels">y [B] as in <see cref="WeightingContext"/>.</param>
    /// <param name="beta">Feature-KD coefficient of the loss (the paper's reward uses it).</param>
    /// <param name="probeLossBefore">The student's loss on the held-out probe batch before the step (probe reward only).</param>
    /// <param name="probeLossAfter">The same after the step.</param>
    /// <param name="rows">Which sample each row belongs to; null: every row is its own sample.</param>
    public LearnFeedback(DistillStats stats, ReadOnlySpan<int> labels = default, float beta = 5f,
        double probeLossBefore = double.NaN, double probeLossAfter = double.NaN, RowGroups? rows = null)
    {
        Stats = stats;
        Rows = rows ?? RowGroups.Identity(stats.Shape.B);
        if (Rows.Rows != stats.Shape.B) throw new ArgumentException($"row-to-sample map has {Rows.Rows} rows, the batch {stats.Shape.B}");
        Labels = labels;
        Beta = beta;
        ProbeLossBefore = probeLossBefore;
        ProbeLossAfter = probeLossAfter;
    }

    public DistillStats Stats { get; }
    public ReadOnlySpan<int> Labels { get; }
    public float Beta { get; }
    public double ProbeLossBefore { get; }
    public double ProbeLossAfter { get; }

    /// <summary>The row-to-sample map of the batch, as in <see cref="WeightingContext.Rows"/>.</summary>
    public RowGroups Rows { get; }
}
