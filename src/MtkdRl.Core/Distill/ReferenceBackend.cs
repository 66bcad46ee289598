namespace MtkdRl.Core.Distill;

/// <summary>The float64 reference as a backend, so tests and benchmarks treat it like any other.</summary>
public sealed class ReferenceBackend : IDistillBackend
{
    public string Name => "reference";
    public string Device => "managed C#, float64, one thread";
    public bool ApproximateMath => false;

    public IDistillSession CreateSession(DistillShape shape) => new Session(shape);

    public void Dispose() { }

    private sealed class Session(DistillShape shape) : IDistillSession
    {
        private ReferenceDistill.Inputs64? _x;
        private ReferenceDistill.Stats64? _stats;
        private readonly DistillStats _statsOut = new(shape);
        private readonly DistillGrads _gradsOut = new(shape);

        public DistillShape Shape { get; } = shape;

        public void Upload(DistillInputs inputs)
        {
            DistillSessionChecks.CheckUpload(Shape, inputs);
            _x = ReferenceDistill.Inputs64.From(inputs);
        }

        public void UploadWeights(float[] wl, float[] wf)
        {
            DistillValidation.CheckWeights(Shape, wl, wf);
            var x = _x ?? throw new InvalidOperationException("Upload a batch before its weights");
            _x = x with { Wl = ReferenceDistill.ToDouble(wl), Wf = ReferenceDistill.ToDouble(wf) };
        }

        public void Stats(in DistillHyper hyper)
        {
            _stats = ReferenceDistill.ComputeStats(Current, hyper);
            ReferenceDistill.CopyTo(_stats, _statsOut);
        }

        public void Gradient(in DistillHyper hyper)
        {
            var stats = _stats ?? throw new InvalidOperationException("Gradient needs the stats pass first");
            ReferenceDistill.CopyTo(ReferenceDistill.ComputeGrads(Current, stats, hyper), _gradsOut);
        }

        public void Fused(in DistillHyper hyper)
        {
            Stats(hyper);
            Gradient(hyper);
        }

        public void Synchronize() { }
        public void DownloadStats(DistillStats destination) => _statsOut.CopyTo(destination);
        public void DownloadGrads(DistillGrads destination) => _gradsOut.CopyTo(destination);

        public void PoisonOutputs()
        {
            _statsOut.Fill(float.NaN);
            _gradsOut.Fill(float.NaN);
        }

        public void Dispose() { }

        private ReferenceDistill.Inputs64 Current => _x ?? throw new InvalidOperationException("Upload a batch first");
    }
}
