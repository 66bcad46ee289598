using MtkdRl.Core.Distill;

namespace MtkdRl.Distillation;

/// <summary>
/// What the classification and the dense step share: the op's session and buffers for one shape, and the three
/// ways through it (stats pass, then the gradient pass with the chosen weights; or one fused sweep). A subclass
/// fills <see cref="Inputs"/> from its student before a pass and turns <see cref="Grads"/> into the student's
/// and heads' gradients after one (<see cref="BackwardFromGrads"/>).
/// </summary>
public abstract class OpStep : IDisposable
{
    private readonly IDistillSession _session;
    private readonly DistillHyper _hyper;
    private bool _forwardDone;

    protected OpStep(IDistillBackend backend, DistillShape shape, DistillHyper hyper)
    {
        hyper.Validate();
        _hyper = hyper;
        Shape = shape;
        Inputs = new DistillInputs(shape);
        StatsBuffer = new DistillStats(shape);
        Grads = new DistillGrads(shape);
        _session = backend.CreateSession(shape);
    }

    public DistillShape Shape { get; }

    protected DistillInputs Inputs { get; }

    protected DistillStats StatsBuffer { get; }

    protected DistillGrads Grads { get; }

    /// <summary>The statistics of the last Forward or RunFused.</summary>
    public DistillStats Stats => StatsBuffer;

    /// <summary>The loss of the last completed step.</summary>
    public double Loss { get; private set; }

    /// <summary>With the inputs prepared: weights cleared, upload, stats pass, statistics downloaded.</summary>
    protected DistillStats StatsPass()
    {
        Array.Clear(Inputs.Wl);
        Array.Clear(Inputs.Wf);
        _session.Upload(Inputs);
        _session.Stats(_hyper);
        _session.DownloadStats(StatsBuffer);
        _forwardDone = true;
        return StatsBuffer;
    }

    /// <summary>With the weights for the batch of the last Forward: gradient pass, heads and student backward.</summary>
    public void Backward(float[] wl, float[] wf)
    {
        if (!_forwardDone) throw new InvalidOperationException("Backward needs the Forward of the same batch first");
        _forwardDone = false;
        _session.UploadWeights(wl, wf);
        _session.Gradient(_hyper);
        _session.DownloadGrads(Grads);
        Finish();
    }

    /// <summary>With the inputs prepared and the weights known: one fused sweep, then heads and student backward.</summary>
    protected DistillStats FusedPass(ReadOnlySpan<float> wl, ReadOnlySpan<float> wf)
    {
        wl.CopyTo(Inputs.Wl);
        wf.CopyTo(Inputs.Wf);
        _forwardDone = false;
        _session.Upload(Inputs);
        _session.Fused(_hyper);
        _session.DownloadStats(StatsBuffer);
        _session.DownloadGrads(Grads);
        Finish();
        return StatsBuffer;
    }

    /// <summary>dL/dzs and dL/dfs of <see cref="Grads"/> back through the heads and the student.</summary>
    protected abstract void BackwardFromGrads();

    private void Finish()
    {
        Loss = Grads.Loss();
        BackwardFromGrads();
    }

    public void Dispose()
    {
        _session.Dispose();
        GC.SuppressFinalize(this);
    }
}
