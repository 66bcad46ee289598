using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Core.Distill;

namespace MtkdRl.Tests.Cli;

/// <summary>The shapes `mtkd bench kernels` times when none is given, and the dense step "B,K,C,D/N".</summary>
public class BenchShapesTests
{
    [Fact]
    public void The_default_kernel_shapes_include_the_dense_rows_and_the_dense_step_of_16_images_of_64x64_pixels()
    {
        var shapes = BenchShapes.ParseAllKernel([], BenchShapes.KernelDefaults);
        Assert.Equal(6, shapes.Count); // the four row shapes stay
        var rows = Assert.Single(shapes, s => s.Rows.C == 11 && !s.IsDenseStep);
        var step = Assert.Single(shapes, s => s.Rows.C == 11 && s.IsDenseStep);
        Assert.Equal(16 * 64 * 64, rows.Rows.B);
        Assert.Equal(rows.Rows.ToString(), step.Rows.ToString());
        Assert.Equal(16, step.Images);
        Assert.Equal("B=65536 K=4 C=11 D=0", step.PixelSession(featureless: true).ToString());
        Assert.Equal("B=65536 K=4 C=11 D=1", step.PixelSession(featureless: false).ToString());
        Assert.Equal("B=16 K=4 C=2 D=16", step.ImageSession.ToString());
    }

    [Theory]
    [InlineData("64,2,5,3/0")]
    [InlineData("64,2,5,3/7")]
    [InlineData("64,2,5,3/x")]
    [InlineData("64,2,5/4")]
    public void A_dense_step_whose_image_count_does_not_divide_the_rows_is_refused(string text)
    {
        var e = Assert.Throws<MtkdException>(() => BenchShapes.ParseKernel(text));
        Assert.Contains($"--shape '{text}'", e.Message);
    }

    /// <summary>
    /// A dense step's records: the rows' shape with N, the bytes of both sessions, and every output of both checked
    /// against the float64 op with each session's own coefficients (no logit term on the images' rows, no feature
    /// term on the pixels'): a backend that ignores them shows as wrong.
    /// </summary>
    [Fact]
    public void A_dense_step_times_both_sessions_and_checks_them_with_their_own_coefficients()
    {
        var shape = BenchShapes.ParseKernel("24,3,5,4/4");
        var options = new KernelBenchOptions(Repeats: 3, Warmup: 0, MaxSeconds: 1);
        using var native = BackendCatalog.Create("native");
        var records = KernelBenchmark.Run(BackendCatalog.Find("native"), native, shape, options).ToList();
        Assert.Equal(["stats", "gradient", "fused"], records.Select(r => r.Op));
        foreach (var r in records)
        {
            Assert.Equal((24, 3, 5, 4, 4), (r.B, r.K, r.C, r.D, r.Images));
            var pass = Enum.Parse<DistillPass>(r.Op, ignoreCase: true);
            Assert.Equal(DistillTraffic.MinimumBytes(shape.PixelSession(featureless: true), pass) + DistillTraffic.MinimumBytes(shape.ImageSession, pass), r.Bytes);
            Assert.True(r.MaxRelErr < 1e-4, $"{r.Op}: {r.MaxRelErr}");
        }

        using var wrong = new DefaultCoefficients();
        Assert.All(KernelBenchmark.Run(BackendCatalog.Find("reference"), wrong, shape, options).Where(r => r.Op != "stats"),
            r => Assert.True(r.MaxRelErr > 1e-2, $"{r.Op}: {r.MaxRelErr} with the default coefficients on both sessions"));
    }

    /// <summary>A faulty backend: every pass runs with a_ce = a_kd = 1 and beta = 5, whatever it is asked for.</summary>
    private sealed class DefaultCoefficients : IDistillBackend
    {
        private readonly ReferenceBackend _inner = new();
        public string Name => "default-coefficients";
        public string Device => _inner.Device;
        public bool ApproximateMath => false;
        public IDistillSession CreateSession(DistillShape shape) => new Session(_inner.CreateSession(shape));
        public void Dispose() => _inner.Dispose();

        private sealed class Session(IDistillSession inner) : IDistillSession
        {
            private static DistillHyper Fixed(in DistillHyper h) => h with { ACe = 1f, AKd = 1f, Beta = 5f };
            public DistillShape Shape => inner.Shape;
            public void Upload(DistillInputs inputs) => inner.Upload(inputs);
            public void UploadWeights(float[] wl, float[] wf) => inner.UploadWeights(wl, wf);
            public void Stats(in DistillHyper hyper) => inner.Stats(Fixed(hyper));
            public void Gradient(in DistillHyper hyper) => inner.Gradient(Fixed(hyper));
            public void Fused(in DistillHyper hyper) => inner.Fused(Fixed(hyper));
            public void Synchronize() => inner.Synchronize();
            public void DownloadStats(DistillStats destination) => inner.DownloadStats(destination);
            public void DownloadGrads(DistillGrads destination) => inner.DownloadGrads(destination);
            public void PoisonOutputs() => inner.PoisonOutputs();
            public void Dispose() => inner.Dispose();
        }
    }
}
