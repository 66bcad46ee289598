using MtkdRl.Core.Distill;

namespace MtkdRl.Distillation;

/// <summary>
/// What the classification and the dense step share: the op's session and buffers for the step's rows, and the
/// three ways through it (stats pass, then the gradient pass with the chosen weights; or one fused sweep). A
/// subclass fills <see cref="Inputs"/> from its student before a pass and turns <see cref="Grads"/> into the
/// student's and heads' gradients after one (<see cref="BackwardFromGrads"/>). A subclass that computes part of the
/// loss in a session of its own (the dense step's per-image feature term) extends the three Run methods.
/// </summary>
public abstract class OpStep : IDisposable
{
    private readonly OpSession _rows;
    private bool _forwardDone;

    /// <param name="shape">The step's shape as strategies see it (B rows, C classes, the heads' widths D).</param>
    /// <param name="sessionShape">The shape of the rows' session when it differs from <paramref name="shape"/> in C or D only.</param>
    protected OpStep(IDistillBackend backend, DistillShape shape, DistillHyper hyper, DistillShape? sessionShape = null)
    {
        Shape = shape;
        _rows = new OpSession(backend, sessionShape ?? shape, hyper);
        StatsBuffer = sessionShape is null ? _rows.Stats : _rows.Stats.Reshaped(shape);
    }

    public DistillShape Shape { get; }

    /// <summary>The rows' inputs (laid out for the session's shape).</summary>
    protected DistillInputs Inputs => _rows.Inputs;

    /// <summary>The statistics of the rows' session, under <see cref="Shape"/>.</summary>
    protected DistillStats StatsBuffer { get; }

    /// <summary>The rows' gradients (laid out for the session's shape).</summary>
    protected DistillGrads Grads => _rows.Grads;

    /// <summary>The statistics of the last Forward or RunFused.</summary>
    public DistillStats Stats => StatsBuffer;

    /// <summary>The loss of the last completed step.</summary>
    public double Loss { get; private set; }

    /// <summary>With the inputs prepared: the stats pass (weights cleared, upload, statistics downloaded).</summary>
    protected DistillStats StatsPass()
    {
        RunStats();
        _forwardDone = true;
        return StatsBuffer;
    }

    /// <summary>With the weights for the batch of the last Forward: gradient pass, heads and student backward.</summary>
    public void Backward(float[] wl, float[] wf)
    {
        if (!_forwardDone) throw new InvalidOperationException("Backward needs the Forward of the same batch first");
        _forwardDone = false;
        Loss = RunGradient(wl, wf);
        BackwardFromGrads();
    }

    /// <summary>With the inputs prepared and the weights known: one fused sweep, then heads and student backward.</summary>
    protected DistillStats FusedPass(ReadOnlySpan<float> wl, ReadOnlySpan<float> wf)
    {
        _forwardDone = false;
        Loss = RunFused(wl, wf);
        BackwardFromGrads();
        return StatsBuffer;
    }

    /// <summary>The stats pass of the rows' session.</summary>
    protected virtual void RunStats() => _rows.RunStats();

    /// <summary>The gradient pass of the rows' session with these weights; returns the loss.</summary>
    protected virtual double RunGradient(float[] wl, float[] wf)
    {
        _rows.RunGradient(wl, wf);
        return _rows.Grads.Loss();
    }

    /// <summary>The fused pass of the rows' session with these weights; returns the loss.</summary>
    protected virtual double RunFused(ReadOnlySpan<float> wl, ReadOnlySpan<float> wf)
    {
        wl.CopyTo(_rows.Inputs.Wl);
        wf.CopyTo(_rows.Inputs.Wf);
        _rows.RunFused();
        return _rows.Grads.Loss();
    }

    /// <summary>dL/dzs and dL/dfs of <see cref="Grads"/> back through the heads and the student.</summary>
    protected abstract void BackwardFromGrads();

    public virtual void Dispose()
    {
        _rows.Dispose();
        GC.SuppressFinalize(this);
    }
}
