using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Distillation;
using MtkdRl.Tests.Training;
using MtkdRl.Training;

namespace MtkdRl.Tests.Distillation;

/// <summary>
/// The dense step: pixel rows with ignored pixels as -1 rows. Its loss against the float64 reference op run on
/// pixel rows built here by hand from the student's maps, its parameter gradients against central differences
/// of its loss, and the row-to-image map.
/// </summary>
public sealed class DenseDistillStepTests
{
    private const int N = 2, C = 3;
    private static readonly int[] Widths = [3, 2];
    private static readonly SampleShape Input = SampleShape.Image(1, 4, 4);
    private const int P = 16;

    private sealed class Setup : IDisposable
    {
        public required SegmentationModel Student;
        public required ProjectionHeads Heads;
        public required DenseDistillStep Step;
        public required float[] X, TeacherMaps, TeacherEmbeddings, Wl, Wf;
        public required byte[] Masks;

        public double Run()
        {
            for (int k = 0; k < Widths.Length; k++) Step.SetTeacherLogits(k, TeacherMaps.AsSpan(k * N * C * P, N * C * P));
            Step.SetTeacherEmbeddings(TeacherEmbeddings);
            Step.RunFused(X, Masks, Wl, Wf);
            return Step.Loss;
        }

        public void Dispose() => Step.Dispose();
    }

    private static Setup Create(string backend, int seed = 11)
    {
        var rng = new Rng((ulong)seed);
        var student = ModelSpec.Parse("unet:2x3", "student").BuildSegmentation(Input, C, TrainingTestCompute.Shared, rng);
        var heads = new ProjectionHeads(student.EmbeddingWidth, Widths, TrainingTestCompute.Shared, rng);
        var random = new Random(seed);
        float[] Gaussian(int n, double scale) => Enumerable.Range(0, n).Select(_ => (float)(scale * random.NextGaussian())).ToArray();
        var masks = Enumerable.Range(0, N * P).Select(i => i % 5 == 0 ? (byte)255 : (byte)random.Next(C)).ToArray();
        int k = Widths.Length, rows = N * P;
        return new Setup
        {
            Student = student, Heads = heads,
            Step = new DenseDistillStep(student, heads, BackendCatalog.Create(backend), N, DistillHyper.Default),
            X = Gaussian(N * Input.Size, 1), TeacherMaps = Gaussian(k * N * C * P, 2), TeacherEmbeddings = Gaussian(N * Widths.Sum(), 0.5),
            Wl = Enumerable.Range(0, rows * k).Select(_ => (float)random.NextDouble()).ToArray(),
            Wf = Enumerable.Range(0, rows * k).Select(_ => (float)random.NextDouble()).ToArray(),
            Masks = masks,
        };
    }

    /// <summary>native runs the pixel rows without features; ilgpu-cpu, without that support, with one zero feature per teacher.</summary>
    [Theory]
    [InlineData("native")]
    [InlineData("native-scalar")]
    [InlineData("ilgpu-cpu")]
    public void Loss_matches_the_float64_op_on_pixel_rows_built_by_hand(string backend)
    {
        using var s = Create(backend);
        double loss = s.Run();
        int k = Widths.Length, f = Widths.Sum(), rows = N * P;
        var shape = new DistillShape(rows, C, Widths);
        var zs = new double[rows * C];
        var zt = new double[k * rows * C];
        var fs = new double[rows * f];
        var ft = new double[rows * f];
        var y = new int[rows];
        var logits = s.Student.Logits.ToArray();
        var projected = s.Heads.Output.ToArray();
        for (int n = 0; n < N; n++)
            for (int p = 0; p < P; p++)
            {
                int row = n * P + p;
                y[row] = s.Masks[row] == 255 ? -1 : s.Masks[row];
                for (int c = 0; c < C; c++)
                {
                    zs[row * C + c] = logits[(n * C + c) * P + p];
                    for (int t = 0; t < k; t++) zt[(t * rows + row) * C + c] = s.TeacherMaps[((t * N + n) * C + c) * P + p];
                }
                for (int j = 0; j < f; j++)
                {
                    fs[row * f + j] = projected[n * f + j];
                    ft[row * f + j] = s.TeacherEmbeddings[n * f + j];
                }
            }
        var inputs = new ReferenceDistill.Inputs64(shape, zs, zt, fs, ft, y, ReferenceDistill.ToDouble(s.Wl), ReferenceDistill.ToDouble(s.Wf));
        double want = ReferenceDistill.Loss(inputs, DistillHyper.Default);
        Assert.True(Math.Abs(loss - want) <= 1e-5 * Math.Max(1, Math.Abs(want)), $"dense step loss {loss}, float64 op on pixel rows {want}");
        // Every statistic the strategy sees, the image session's cos and mse on every pixel row included.
        var stats = ReferenceDistill.ComputeStats(inputs, DistillHyper.Default);
        foreach (var ((name, got), (_, reference)) in s.Step.Stats.Named().Zip(ReferenceDistill.Named(stats)))
            for (int i = 0; i < reference.Length; i++)
                Assert.True(Math.Abs(got[i] - reference[i]) <= 1e-5 + 1e-4 * Math.Abs(reference[i]), $"{name}[{i}]: step {got[i]}, float64 op {reference[i]}");
        Assert.Equal(y, s.Step.Labels.ToArray());
        Assert.Equal(Enumerable.Range(0, rows).Select(r => r / P), Enumerable.Range(0, rows).Select(r => s.Step.Rows.SampleOfRow[r]));
    }

    [Fact]
    public void Gradients_of_student_and_heads_match_central_differences_of_the_step_loss()
    {
        using var s = Create("reference");
        Assert.True(StepGradientCheck.Run(s.Step.Parameters.ToList(), s.Run, trials: 3, relative: 3e-2) >= 3 * 10, "student and every head were checked");
    }

    /// <summary>
    /// The stats pass then the gradient pass give the fused sweep's loss and parameter gradients for the same weights
    /// (the feature term's per-image weights are made from the pixel weights on both routes), per-pixel weights included.
    /// </summary>
    [Theory]
    [InlineData("native")]
    [InlineData("reference")]
    [InlineData("ilgpu-cpu")]
    public void The_two_pass_route_gives_the_fused_loss_and_gradients(string backend)
    {
        using var s = Create(backend);
        double fused = s.Run();
        var fusedGrads = s.Step.Parameters.Select(p => p.Grad.ToArray()).ToList();
        foreach (var p in s.Step.Parameters) Array.Clear(p.Grad);
        s.Step.Forward(s.X, s.Masks);
        s.Step.Backward(s.Wl, s.Wf);
        Assert.True(Math.Abs(s.Step.Loss - fused) <= 1e-6 * Math.Max(1, Math.Abs(fused)), $"two-pass {s.Step.Loss}, fused {fused}");
        foreach (var (p, want) in s.Step.Parameters.Zip(fusedGrads))
            for (int i = 0; i < want.Length; i++)
                Assert.True(Math.Abs(p.Grad[i] - want[i]) <= 1e-6 + 1e-4 * Math.Abs(want[i]), $"{p.Name}[{i}]: two-pass {p.Grad[i]}, fused {want[i]}");
    }

    [Fact]
    public void Images_without_a_valid_pixel_add_no_feature_term()
    {
        using var s = Create("reference");
        Array.Fill(s.Masks, (byte)255);
        Assert.Equal(0, s.Run());
        Assert.All(s.Step.Parameters, p => Assert.All(p.Grad, g => Assert.Equal(0f, g)));
    }

    /// <summary>
    /// Every catalog strategy runs through the dense step as through a classification one; the paper's per-sample
    /// agent, reading the pixel-to-image map, gives every pixel of an image the same weights.
    /// </summary>
    [Theory]
    [MemberData(nameof(Strategies))]
    public void Every_strategy_runs_unchanged_on_pixel_rows(string name)
    {
        using var s = Create("native");
        int k = Widths.Length, rows = N * P;
        var strategy = MtkdRl.Strategies.StrategyCatalog.Create(name, k,
            new MtkdRl.Strategies.StrategyOptions { Classes = C, EmbeddingWidths = Widths, FixedWeights = "1,2" });
        var wl = new float[rows * k];
        var wf = new float[rows * k];
        for (int t = 0; t < k; t++) s.Step.SetTeacherLogits(t, s.TeacherMaps.AsSpan(t * N * C * P, N * C * P));
        s.Step.SetTeacherEmbeddings(s.TeacherEmbeddings);
        if (strategy.NeedsStats)
        {
            s.Step.Forward(s.X, s.Masks);
            strategy.Weights(s.Step.ContextFor(strategy), wl, wf);
            s.Step.Backward(wl, wf);
            strategy.Learn(s.Step.FeedbackFor(5f, 1.0, 0.9));
        }
        else
        {
            strategy.Weights(new MtkdRl.Strategies.WeightingContext(s.Step.Stats, rows: s.Step.Rows), wl, wf);
            s.Step.RunFused(s.X, s.Masks, wl, wf);
        }
        Assert.True(double.IsFinite(s.Step.Loss), $"{name}: loss {s.Step.Loss}");
        Assert.Contains(s.Step.Parameters, p => p.Grad.Any(g => g != 0));
        if (name == MtkdRl.Strategies.PaperAgent.CatalogName)
            for (int n = 0; n < N; n++)
                for (int p = 1; p < P; p++)
                    for (int t = 0; t < k; t++)
                        Assert.Equal(wl[(n * P) * k + t], wl[(n * P + p) * k + t]);
    }

    public static TheoryData<string> Strategies() => [.. MtkdRl.Strategies.StrategyCatalog.Names];

    [Fact]
    public void A_mask_of_the_wrong_size_is_refused()
    {
        using var s = Create("native");
        var e = Assert.Throws<MtkdInputException>(() => s.Step.RunFused(s.X, s.Masks.AsSpan(1), s.Wl, s.Wf));
        Assert.Contains("mask pixels", e.Message);
    }
}
