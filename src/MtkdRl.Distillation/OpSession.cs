using MtkdRl.Core.Distill;

namespace MtkdRl.Distillation;

/// <summary>
/// One session of the op for one shape with its host buffers, and its three passes: statistics, then the gradient
/// with weights chosen from them; or both in one fused sweep with the weights already in <see cref="Inputs"/>.
/// A step drives one (classification) or two (the dense step: pixel rows, and its images' feature rows).
/// </summary>
internal sealed class OpSession : IDisposable
{
    private readonly IDistillSession _session;

    public OpSession(IDistillBackend backend, DistillShape shape, DistillHyper hyper)
    {
        hyper.Validate();
        Hyper = hyper;
        Shape = shape;
        Inputs = new DistillInputs(shape);
        Stats = new DistillStats(shape);
        Grads = new DistillGrads(shape);
        _session = backend.CreateSession(shape);
    }

    public DistillShape Shape { get; }

    public DistillHyper Hyper { get; }

    public DistillInputs Inputs { get; }

    public DistillStats Stats { get; }

    public DistillGrads Grads { get; }

    /// <summary>Weights cleared, upload, stats pass, statistics downloaded.</summary>
    public void RunStats()
    {
        Array.Clear(Inputs.Wl);
        Array.Clear(Inputs.Wf);
        _session.Upload(Inputs);
        _session.Stats(Hyper);
        _session.DownloadStats(Stats);
    }

    /// <summary>With the statistics of the current batch: the weights, the gradient pass, gradients downloaded.</summary>
    public void RunGradient(float[] wl, float[] wf)
    {
        _session.UploadWeights(wl, wf);
        _session.Gradient(Hyper);
        _session.DownloadGrads(Grads);
    }

    /// <summary>Upload with the weights already in <see cref="Inputs"/>, one fused sweep, statistics and gradients downloaded.</summary>
    public void RunFused()
    {
        _session.Upload(Inputs);
        _session.Fused(Hyper);
        _session.DownloadStats(Stats);
        _session.DownloadGrads(Grads);
    }

    public void Dispose() => _session.Dispose();
}
