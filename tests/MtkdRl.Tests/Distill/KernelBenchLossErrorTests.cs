using MtkdRl.Backends;
using MtkdRl.Core.Distill;

namespace MtkdRl.Tests.Distill;

/// <summary>
/// The max-rel-err column of `bench kernels --kd-loss NAME`: each pass's outputs against the float64 reference of
/// the same loss, so a backend that computed the default kl + mse instead of the selected loss shows as wrong.
/// </summary>
public class KernelBenchLossErrorTests
{
    private static readonly DistillShape Shape = new(6, 3, 13, 5);
    private static readonly BackendEntry Entry = BackendCatalog.Find("reference");

    [Theory]
    [InlineData("reverse-kl", "mse")]
    [InlineData("jsd", "mse")]
    [InlineData("dkd", "mse")]
    [InlineData("kl", "cosine")]
    [InlineData("kl", "smooth-l1")]
    public void The_error_column_compares_with_the_selected_losss_reference(string kd, string feature)
    {
        var options = new KernelBenchOptions(Repeats: 3, Warmup: 0, MaxSeconds: 1,
            Hyper: DistillHyper.Default with { Loss = DistillLossCatalog.Parse(kd, feature) });

        using var right = new ReferenceBackend();
        Assert.All(KernelBenchmark.Run(Entry, right, Shape, options), r => Assert.True(r.MaxRelErr < 1e-9, $"{r.Op}: {r.MaxRelErr}"));

        using var wrong = new DefaultLossOnly();
        var records = KernelBenchmark.Run(Entry, wrong, Shape, options).ToList();
        Assert.Equal(3, records.Count);
        Assert.All(records, r => Assert.True(r.MaxRelErr > 1e-2, $"{r.Op}: {r.MaxRelErr} for kl + mse computed in place of {options.Hyper.Loss}"));
    }

    /// <summary>A faulty backend: it claims every loss and computes kl + mse whatever it is asked for.</summary>
    private sealed class DefaultLossOnly : IDistillBackend
    {
        private readonly ReferenceBackend _inner = new();
        public string Name => "default-loss-only";
        public string Device => _inner.Device;
        public bool ApproximateMath => false;
        public bool Supports(DistillLoss loss) => true;
        public IDistillSession CreateSession(DistillShape shape) => new Session(_inner.CreateSession(shape));
        public void Dispose() => _inner.Dispose();

        private sealed class Session(IDistillSession inner) : IDistillSession
        {
            public DistillShape Shape => inner.Shape;
            public void Upload(DistillInputs inputs) => inner.Upload(inputs);
            public void UploadWeights(float[] wl, float[] wf) => inner.UploadWeights(wl, wf);
            public void Stats(in DistillHyper hyper) => inner.Stats(hyper with { Loss = DistillLoss.Default });
            public void Gradient(in DistillHyper hyper) => inner.Gradient(hyper with { Loss = DistillLoss.Default });
            public void Fused(in DistillHyper hyper) => inner.Fused(hyper with { Loss = DistillLoss.Default });
            public void Synchronize() => inner.Synchronize();
            public void DownloadStats(DistillStats destination) => inner.DownloadStats(destination);
            public void DownloadGrads(DistillGrads destination) => inner.DownloadGrads(destination);
            public void PoisonOutputs() => inner.PoisonOutputs();
            public void Dispose() => inner.Dispose();
        }
    }
}
