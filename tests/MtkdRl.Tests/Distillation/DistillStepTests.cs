using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Distillation;
using MtkdRl.Tests.Training;
using MtkdRl.Training;
using Xunit;

namespace MtkdRl.Tests.Distillation;

public sealed class DistillStepTests
{
    private const int B = 6, C = 4;
    private static readonly int[] Widths = [5, 3, 7];
    private static readonly SampleShape Input = SampleShape.Image(1, 3, 5);

    private sealed class Setup : IDisposable
    {
        public required Model Student;
        public required ProjectionHeads Heads;
        public required DistillStep Step;
        public required float[] X, Zt, Ft, Wl, Wf;
        public required int[] Y;

        public void Fill()
        {
            Zt.CopyTo(Step.TeacherLogits);
            Ft.CopyTo(Step.TeacherEmbeddings);
        }

        public void Dispose() => Step.Dispose();
    }

    private static Setup Create(string backend, string spec = "mlp:8", int seed = 7)
    {
        var rng = new Rng((ulong)seed);
        var student = ModelSpec.Parse(spec, "student").Build(Input, C, TrainingTestCompute.Shared, rng);
        var heads = new ProjectionHeads(student.EmbeddingWidth, Widths, TrainingTestCompute.Shared, rng);
        var step = new DistillStep(student, heads, BackendCatalog.Create(backend), B, C, DistillHyper.Default);
        var random = new Random(seed);
        float[] Gaussian(int n, double scale) => Enumerable.Range(0, n).Select(_ => (float)(scale * random.NextGaussian())).ToArray();
        int k = Widths.Length, f = Widths.Sum();
        var wl = Enumerable.Range(0, B * k).Select(_ => (float)random.NextDouble()).ToArray();
        var wf = Enumerable.Range(0, B * k).Select(_ => (float)random.NextDouble()).ToArray();
        return new Setup
        {
            Student = student, Heads = heads, Step = step,
            X = Gaussian(B * Input.Size, 1), Zt = Gaussian(k * B * C, 2), Ft = Gaussian(B * f, 0.5),
            Y = [0, 3, -1, 1, 2, 1], Wl = wl, Wf = wf,
        };
    }

    private static double Loss(Setup s)
    {
        s.Fill();
        s.Step.RunFused(s.X, s.Y, s.Wl, s.Wf);
        return s.Step.Loss;
    }

    [Fact]
    public void Gradients_of_student_and_heads_match_central_differences_of_the_step_loss()
    {
        using var s = Create("reference");
        int checkedCount = StepGradientCheck.Run(s.Step.Parameters.ToList(), () => Loss(s), trials: 4, relative: 2e-2);
        Assert.True(checkedCount >= 4 * 6, "student and every head were checked");
    }

    [Fact]
    public void Two_pass_step_gives_the_fused_step_s_gradients_and_loss()
    {
        using var fused = Create("native");
        using var twoPass = Create("native");
        fused.Fill();
        fused.Step.RunFused(fused.X, fused.Y, fused.Wl, fused.Wf);
        twoPass.Fill();
        twoPass.Step.Forward(twoPass.X, twoPass.Y);
        twoPass.Step.Backward(twoPass.Wl, twoPass.Wf);
        Assert.Equal(fused.Step.Loss, twoPass.Step.Loss, 5);
        var a = fused.Step.Parameters.ToList();
        var b = twoPass.Step.Parameters.ToList();
        for (int i = 0; i < a.Count; i++)
        {
            double scale = a[i].Grad.Max(Math.Abs) + 1e-12;
            double worst = a[i].Grad.Zip(b[i].Grad, (x, y) => Math.Abs(x - y)).Max() / scale;
            Assert.True(worst <= 1e-5, $"{a[i].Name}: relative difference {worst:E2}");
        }
    }

    [Fact]
    public void Zero_weights_leave_only_the_students_cross_entropy()
    {
        using var s = Create("reference");
        Array.Clear(s.Wl);
        Array.Clear(s.Wf);
        double loss = Loss(s);
        var counted = s.Y.Where(y => y >= 0).ToArray();
        var logits = s.Student.Logits.ToArray();
        double ce = 0;
        for (int b = 0; b < B; b++)
        {
            if (s.Y[b] < 0) continue;
            var row = logits.AsSpan(b * C, C).ToArray().Select(v => (double)v).ToArray();
            double m = row.Max(), lse = m + Math.Log(row.Sum(v => Math.Exp(v - m)));
            ce += lse - row[s.Y[b]];
        }
        Assert.Equal(ce / counted.Length, loss, 5);
        Assert.All(s.Heads.Parameters, p => Assert.All(p.Grad, g => Assert.Equal(0f, g)));
    }

    [Fact]
    public void Backward_without_a_forward_of_the_batch_is_refused()
    {
        using var s = Create("native");
        Assert.Throws<InvalidOperationException>(() => s.Step.Backward(s.Wl, s.Wf));
    }

    [Fact]
    public void A_student_whose_classes_differ_from_the_teachers_is_refused()
    {
        var rng = new Rng(1);
        var student = ModelSpec.Parse("linear", "student").Build(Input, C + 1, TrainingTestCompute.Shared, rng);
        var heads = new ProjectionHeads(student.EmbeddingWidth, Widths, TrainingTestCompute.Shared, rng);
        var e = Assert.Throws<MtkdInputException>(() => new DistillStep(student, heads, BackendCatalog.Create("native"), B, C, DistillHyper.Default));
        Assert.Contains("classes", e.Message);
    }
}
