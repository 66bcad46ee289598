using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Strategies;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>
/// One training step of a student distilled from K teachers on a batch of B rows, over the fused op of any
/// backend. The teachers' outputs for the batch go into <see cref="TeacherLogits"/> ([K,B,C]) and
/// <see cref="TeacherEmbeddings"/> ([B,F]) before the step (from the cache, or from live teachers).
/// <para>Two ways through a step:</para>
/// <code>
///   // weights known before the batch (aver, fixed): one sweep
///   step.RunFused(x, y, wl, wf);
///   // weights chosen from the batch's statistics (agents, ca-mkd, ebkd): stats, decide, gradient
///   var stats = step.Forward(x, y);           // student forward, heads, the op's stats pass
///   strategy.Weights(stats, ..., wl, wf);
///   step.Backward(wl, wf);                    // the op's gradient pass, heads and student backward
/// </code>
/// Either way the parameter gradients of the student and the heads are written and the loss of the batch is
/// returned by <see cref="Loss"/>; the caller steps the optimiser. The batch size is fixed (the session's
/// shape): the trainer drops the last partial batch of an epoch.
/// <para>Rows and samples. The op works on B rows; <see cref="Rows"/> says which sample each row belongs to and
/// reaches the strategy through <see cref="ContextFor"/> and <see cref="FeedbackFor"/>. For classification a row
/// is an image (the identity map); a dense task (a row per pixel or location) passes its own map.</para>
/// </summary>
public sealed class DistillStep : OpStep
{
    private readonly Model _student;
    private readonly int _classes;

    /// <param name="rows">Which sample each of the batch's rows belongs to; null: every row is its own sample.</param>
    public DistillStep(Model student, ProjectionHeads heads, IDistillBackend backend, int batch, int classes, DistillHyper hyper,
        RowGroups? rows = null) : base(backend, new DistillShape(batch, classes, heads.Widths), hyper)
    {
        if (rows is not null && rows.Rows != batch)
            throw new MtkdInputException($"row-to-sample map has {rows.Rows} rows, a step takes {batch}");
        if (student.Classes != classes)
            throw new MtkdInputException($"student '{student.Spec}' has {student.Classes} classes, the teachers {classes}");
        if (heads.StudentWidth != student.EmbeddingWidth)
            throw new MtkdInputException($"projection heads read {heads.StudentWidth} features, student '{student.Spec}' embeds {student.EmbeddingWidth}");
        _student = student;
        Heads = heads;
        _classes = classes;
        Rows = rows ?? RowGroups.Identity(batch);
    }

    /// <summary>Which sample each row belongs to (the identity unless the constructor was given a map).</summary>
    public RowGroups Rows { get; }

    public ProjectionHeads Heads { get; }

    /// <summary>The student's and the heads' trainable tensors: what the optimiser steps.</summary>
    public IEnumerable<Parameter> Parameters => _student.Parameters.Concat(Heads.Parameters);

    /// <summary>zt [K,B,C]: fill with the teachers' logits for the batch before each step.</summary>
    public Span<float> TeacherLogits => Inputs.Zt;

    /// <summary>ft [B,F]: fill with the teachers' embeddings for the batch before each step.</summary>
    public Span<float> TeacherEmbeddings => Inputs.Ft;

    /// <summary>Per-row loss of the last step (already divided by B'), from the op.</summary>
    public ReadOnlySpan<float> RowLoss => Grads.RowLoss;

    /// <summary>The student's logits [B,C] of the last Forward (for accuracy).</summary>
    public ReadOnlySpan<float> StudentLogits => _student.Logits;

    /// <summary>
    /// The batch as <paramref name="strategy"/> sees it: the statistics of the last pass, the labels, the
    /// row-to-sample map and, when the strategy asks for them, the teachers' outputs.
    /// </summary>
    public WeightingContext ContextFor(IWeightingStrategy strategy, ReadOnlySpan<int> labels) =>
        strategy.NeedsTeacherOutputs
            ? new WeightingContext(StatsBuffer, labels, Inputs.Ft, Inputs.Zt, Rows)
            : new WeightingContext(StatsBuffer, labels, rows: Rows);

    /// <summary>The strategy's feedback on the last step: its statistics, the labels, the row map and the probe losses.</summary>
    public LearnFeedback FeedbackFor(ReadOnlySpan<int> labels, float beta, double probeLossBefore, double probeLossAfter) =>
        new(StatsBuffer, labels, beta, probeLossBefore, probeLossAfter, Rows);

    /// <summary>Student forward, heads forward, upload, stats pass; returns the [B,K] statistics.</summary>
    public DistillStats Forward(ReadOnlySpan<float> x, ReadOnlySpan<int> y)
    {
        PrepareInputs(x, y);
        return StatsPass();
    }

    /// <summary>The whole step in one sweep of the op, for weights known before the batch.</summary>
    public DistillStats RunFused(ReadOnlySpan<float> x, ReadOnlySpan<int> y, ReadOnlySpan<float> wl, ReadOnlySpan<float> wf)
    {
        PrepareInputs(x, y);
        return FusedPass(wl, wf);
    }

    private void PrepareInputs(ReadOnlySpan<float> x, ReadOnlySpan<int> y)
    {
        int b = Shape.B;
        if (y.Length != b) throw new ArgumentException($"a step takes {b} labels, got {y.Length}");
        foreach (int label in y)
        {
            if (label < -1 || label >= _classes) throw new MtkdInputException($"label {label} is outside 0..{_classes - 1}");
        }
        _student.Forward(x, b, training: true);
        _student.Logits.CopyTo(Inputs.Zs);
        Heads.Forward(_student.Embedding, b, Inputs.Fs);
        y.CopyTo(Inputs.Y);
    }

    protected override void BackwardFromGrads()
    {
        var gradEmbedding = Heads.Backward(Grads.Dfs);
        _student.Backward(Grads.Dzs, gradEmbedding);
    }
}
