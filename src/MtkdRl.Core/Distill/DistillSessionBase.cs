namespace MtkdRl.Core.Distill;

/// <summary>
/// What every session does the same way, whatever runs the kernels: the upload checks, 1/B', the pass order
/// (no gradient without the current batch's statistics), shape checks on downloads, and disposal. Backends
/// supply the data movement and the passes themselves.
/// </summary>
public abstract class DistillSessionBase : IDistillSession
{
    private bool _uploaded, _statsCurrent, _disposed;

    protected DistillSessionBase(DistillShape shape) => Shape = shape;

    public DistillShape Shape { get; }

    /// <summary>1/B' of the current batch (0 when every row is ignored); set by <see cref="Upload"/>.</summary>
    public float InverseCountedRows { get; private set; }

    public void Upload(DistillInputs inputs)
    {
        ThrowIfDisposed();
        DistillSessionChecks.CheckUpload(Shape, inputs);
        _uploaded = false;
        _statsCurrent = false;
        UploadInputs(inputs);
        InverseCountedRows = inputs.InverseCountedRows();
        _uploaded = true;
    }

    public void UploadWeights(float[] wl, float[] wf)
    {
        ThrowIfDisposed();
        DistillValidation.CheckWeights(Shape, wl, wf);
        if (!_uploaded) throw new InvalidOperationException("Upload a batch before its weights");
        UploadWeightsOnly(wl, wf);
    }

    public void Stats(in DistillHyper hyper)
    {
        Run(DistillPass.Stats, hyper);
        _statsCurrent = true;
    }

    public void Gradient(in DistillHyper hyper)
    {
        ThrowIfDisposed();
        if (_uploaded && !_statsCurrent) throw new InvalidOperationException("Gradient needs the stats pass of the current batch first");
        Run(DistillPass.Gradient, hyper);
    }

    public void Fused(in DistillHyper hyper)
    {
        Run(DistillPass.Fused, hyper);
        _statsCurrent = true;
    }

    public void DownloadStats(DistillStats destination)
    {
        ThrowIfDisposed();
        CheckShape(destination.Shape);
        CopyStatsTo(destination);
    }

    public void DownloadGrads(DistillGrads destination)
    {
        ThrowIfDisposed();
        CheckShape(destination.Shape);
        CopyGradsTo(destination);
    }

    public abstract void Synchronize();

    /// <summary>NaN into every output; the statistics are gone with them, so a gradient pass needs a new stats pass.</summary>
    public void PoisonOutputs()
    {
        ThrowIfDisposed();
        _statsCurrent = false;
        FillOutputsWithNaN();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        ReleaseResources();
        GC.SuppressFinalize(this);
    }

    /// <summary>Stores a checked batch (copy to the device, or keep references on the host).</summary>
    protected abstract void UploadInputs(DistillInputs inputs);

    /// <summary>Stores checked weights of the current batch.</summary>
    protected abstract void UploadWeightsOnly(float[] wl, float[] wf);

    /// <summary>Runs one pass on the current batch with validated scalars.</summary>
    protected abstract void RunPass(DistillPass pass, in DistillHyper hyper);

    /// <summary>Copies the statistics out, waiting for the device first.</summary>
    protected abstract void CopyStatsTo(DistillStats destination);

    /// <summary>Copies the gradients out, waiting for the device first.</summary>
    protected abstract void CopyGradsTo(DistillGrads destination);

    protected abstract void FillOutputsWithNaN();

    protected abstract void ReleaseResources();

    /// <summary>Whether the passes compute <paramref name="loss"/>; by default only kl + mse (docs/DESIGN.md §7).</summary>
    protected virtual bool SupportsLoss(DistillLoss loss) => loss.IsDefault;

    /// <summary>The backend's name in a refusal.</summary>
    protected virtual string BackendName => "this backend";

    protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private void Run(DistillPass pass, in DistillHyper hyper)
    {
        ThrowIfDisposed();
        hyper.Validate();
        if (!SupportsLoss(hyper.Loss)) throw DistillLossSupport.Refusal(BackendName, hyper.Loss);
        if (!_uploaded) throw new InvalidOperationException("Upload a batch before running a pass");
        RunPass(pass, hyper);
    }

    private void CheckShape(DistillShape other)
    {
        if (!DistillSessionChecks.SameShape(Shape, other)) DistillSessionChecks.ShapeMismatch(Shape, other);
    }
}
