using MtkdRl.Backends;
using MtkdRl.Core.Distill;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Gpu;

/// <summary>
/// The self-check the GPU machine runs must catch the faults GPU kernels have: an element never written, a value
/// slightly off, a non-finite input swallowed. Shown on the reference backend with one fault injected at a time.
/// </summary>
public class BackendSelfCheckTests
{
    private static readonly DistillShape[] Shapes = [new(9, 4, 20, 8)];

    [Fact]
    public void A_correct_backend_passes_every_check()
    {
        using var backend = new ReferenceBackend();
        var results = BackendSelfCheck.Run(backend, Shapes, TestSeeds.Next(), small: true);
        Assert.Equal(5, results.Count);
        Assert.All(results, r => Assert.True(r.Passed, $"{r.Name}: {r.Detail}"));
    }

    [SkippableFact]
    [Trait("Category", "Slow")]
    public void With_losses_every_catalog_loss_runs_on_the_cuda_kernels_too()
    {
        var backend = SharedBackends.GetOrSkip("cuda-emu");
        var results = BackendSelfCheck.Run(backend, Shapes, TestSeeds.Next(), small: true, losses: true);
        var losses = DistillLossCatalog.AllCombinations().Where(l => !l.IsDefault).ToList();
        Assert.Equal(5 + losses.Count, results.Count);
        Assert.All(losses, l => Assert.Single(results, r => r.Name.StartsWith($"{l}, ragged widths", StringComparison.Ordinal)));
        Assert.All(results, r => Assert.True(r.Passed, $"{r.Name}: {r.Detail}"));
    }

    [Theory]
    [InlineData(Fault.UnwrittenGradient, "random", "dzs[")]
    [InlineData(Fault.KlOffByOnePart10000, "random", "two-pass kl: max relative error")]
    [InlineData(Fault.NonFiniteHidden, "non-finite inputs", "expected NaN")]
    [InlineData(Fault.FusedRowLossOff, "random", "fused row_loss: max relative error")]
    public void A_faulty_backend_fails_the_check_that_covers_its_fault(Fault fault, string check, string detail)
    {
        using var backend = new FaultyBackend(fault);
        var results = BackendSelfCheck.Run(backend, Shapes, TestSeeds.Next(), small: true);
        var failed = results.Where(r => !r.Passed).ToList();
        Assert.Contains(failed, r => r.Name.StartsWith(check, StringComparison.Ordinal) && r.Detail.Contains(detail, StringComparison.Ordinal));
    }

    public enum Fault { UnwrittenGradient, KlOffByOnePart10000, NonFiniteHidden, FusedRowLossOff }

    /// <summary>The reference backend with one fault a kernel could have.</summary>
    private sealed class FaultyBackend(Fault fault) : IDistillBackend
    {
        private readonly ReferenceBackend _inner = new();
        public string Name => "faulty";
        public string Device => "reference with an injected fault";
        public bool ApproximateMath => false;
        public IDistillSession CreateSession(DistillShape shape) => new Session(_inner.CreateSession(shape), fault);
        public void Dispose() => _inner.Dispose();

        private sealed class Session(IDistillSession inner, Fault fault) : IDistillSession
        {
            private bool _fused;
            public DistillShape Shape => inner.Shape;
            public void Upload(DistillInputs inputs) => inner.Upload(inputs);
            public void UploadWeights(float[] wl, float[] wf) => inner.UploadWeights(wl, wf);
            public void Stats(in DistillHyper hyper) { _fused = false; inner.Stats(hyper); }
            public void Gradient(in DistillHyper hyper) => inner.Gradient(hyper);
            public void Fused(in DistillHyper hyper) { _fused = true; inner.Fused(hyper); }
            public void Synchronize() => inner.Synchronize();
            public void PoisonOutputs() => inner.PoisonOutputs();
            public void Dispose() => inner.Dispose();

            public void DownloadStats(DistillStats destination)
            {
                inner.DownloadStats(destination);
                if (fault == Fault.KlOffByOnePart10000)
                {
                    int largest = Array.IndexOf(destination.Kl, destination.Kl.Max());
                    destination.Kl[largest] *= 1.0001f; // ten times the tolerance, relative to max|kl|
                }
                if (fault == Fault.NonFiniteHidden)
                    for (int i = 0; i < destination.LseT.Length; i++)
                        if (float.IsNaN(destination.LseT[i])) destination.LseT[i] = 0;
            }

            public void DownloadGrads(DistillGrads destination)
            {
                inner.DownloadGrads(destination);
                if (fault == Fault.UnwrittenGradient) destination.Dzs[^1] = float.NaN; // as left by PoisonOutputs
                if (fault == Fault.FusedRowLossOff && _fused) destination.RowLoss[0] *= 1.01f;
            }
        }
    }
}
