namespace MtkdRl.Core.Distill;

/// <summary>The float64 reference as a backend, so tests and benchmarks treat it like any other.</summary>
public sealed class ReferenceBackend : IDistillBackend
{
    public string Name => "reference";
    public string Device => "managed C#, float64, one thread";
    public bool ApproximateMath => false;

    public IDistillSession CreateSession(DistillShape shape) => new Session(shape);

    /// <summary>The reference is the specification of every catalog loss.</summary>
    public bool Supports(DistillLoss loss) => true;

    public bool SupportsFeaturelessTeachers => true;

    public void Dispose() { }

    private sealed class Session(DistillShape shape) : DistillSessionBase(shape)
    {
        private ReferenceDistill.Inputs64? _x;
        private ReferenceDistill.Stats64? _stats;
        private readonly DistillStats _statsOut = new(shape);
        private readonly DistillGrads _gradsOut = new(shape);

        protected override bool SupportsLoss(DistillLoss loss) => true;

        protected override void UploadInputs(DistillInputs inputs) => _x = ReferenceDistill.Inputs64.From(inputs);

        protected override void UploadWeightsOnly(float[] wl, float[] wf) =>
            _x = _x! with { Wl = ReferenceDistill.ToDouble(wl), Wf = ReferenceDistill.ToDouble(wf) };

        protected override void RunPass(DistillPass pass, in DistillHyper hyper)
        {
            if (pass != DistillPass.Gradient)
            {
                _stats = ReferenceDistill.ComputeStats(_x!, hyper);
                ReferenceDistill.CopyTo(_stats, _statsOut);
            }
            if (pass != DistillPass.Stats)
                ReferenceDistill.CopyTo(ReferenceDistill.ComputeGrads(_x!, _stats!, hyper), _gradsOut);
        }

        public override void Synchronize() { }
        protected override void CopyStatsTo(DistillStats destination) => _statsOut.CopyTo(destination);
        protected override void CopyGradsTo(DistillGrads destination) => _gradsOut.CopyTo(destination);

        protected override void FillOutputsWithNaN()
        {
            _statsOut.Fill(float.NaN);
            _gradsOut.Fill(float.NaN);
        }

        protected override void ReleaseResources() { }
    }
}
