using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Distillation;
using MtkdRl.Tests.Training;
using MtkdRl.Training;

namespace MtkdRl.Tests.Distillation;

/// <summary>
/// The dense step on a detector's location rows: its loss against the float64 reference op on rows copied here
/// from the detector's class logits, the student's box loss on positives by hand, the gradients of student, box
/// head and projection heads against central differences, and a coarser teacher's logits on the student grid.
/// </summary>
public sealed class DetectionDistillStepTests
{
    private const int N = 2, Classes = 3, C = Classes + 1;
    private static readonly int[] Widths = [3, 2];
    private static readonly SampleShape Input = SampleShape.Image(1, 8, 8);

    private sealed class Setup : IDisposable
    {
        public required DetectorRows Student;
        public required ProjectionHeads Heads;
        public required DenseDistillStep Step;
        public required float[] X, TeacherRows, TeacherEmbeddings, Wl, Wf, Targets;
        public required int[] Labels;

        public int Rows => Labels.Length;

        public double Run()
        {
            for (int k = 0; k < Widths.Length; k++) TeacherRows.AsSpan(k * Rows * C, Rows * C).CopyTo(Step.TeacherRows(k));
            Step.SetTeacherEmbeddings(TeacherEmbeddings);
            Step.RunFused(X, Labels, Wl, Wf);
            return Step.Loss + Student.ExtraLoss;
        }

        public void Dispose() => Step.Dispose();
    }

    private static Setup Create(string backend, int seed = 7)
    {
        var rng = new Rng((ulong)seed);
        var detector = ModelSpec.Parse("det:2x3", "student").BuildDetector(Input, Classes, TrainingTestCompute.Shared, rng);
        var student = new DetectorRows(detector);
        var heads = new ProjectionHeads(student.EmbeddingWidth, Widths, TrainingTestCompute.Shared, rng);
        var random = new Random(seed);
        float[] Gaussian(int n, double scale) => Enumerable.Range(0, n).Select(_ => (float)(scale * random.NextGaussian())).ToArray();
        int rows = N * detector.Locations, k = Widths.Length;
        var labels = Enumerable.Range(0, rows).Select(i => i % 3 == 0 ? 1 + random.Next(Classes) : 0).ToArray();
        var targets = Gaussian(rows * BoxCoding.Outputs, 1);
        student.Bind(labels, targets);
        return new Setup
        {
            Student = student, Heads = heads,
            Step = new DenseDistillStep(student, heads, BackendCatalog.Create(backend), N, DistillHyper.Default),
            X = Gaussian(N * Input.Size, 1), TeacherRows = Gaussian(k * rows * C, 2), TeacherEmbeddings = Gaussian(N * Widths.Sum(), 0.5),
            Wl = Enumerable.Range(0, rows * k).Select(_ => (float)random.NextDouble()).ToArray(),
            Wf = Enumerable.Range(0, rows * k).Select(_ => (float)random.NextDouble()).ToArray(),
            Targets = targets, Labels = labels,
        };
    }

    [Fact]
    public void Loss_matches_the_float64_op_on_location_rows_and_the_box_loss_by_hand()
    {
        using var s = Create("native");
        s.Run();
        var d = s.Student.Detector;
        int k = Widths.Length, f = Widths.Sum(), rows = s.Rows, L = d.Locations;
        Assert.Equal(16, L);
        var zs = d.ClassLogits.ToArray().Select(v => (double)v).ToArray();
        var boxes = d.BoxOutputs.ToArray();
        var projected = s.Heads.Output.ToArray();
        var fs = new double[rows * f];
        var ft = new double[rows * f];
        for (int row = 0; row < rows; row++)
            for (int j = 0; j < f; j++)
            {
                fs[row * f + j] = projected[row / L * f + j];
                ft[row * f + j] = s.TeacherEmbeddings[row / L * f + j];
            }
        var inputs = new ReferenceDistill.Inputs64(new DistillShape(rows, C, Widths), zs, ReferenceDistill.ToDouble(s.TeacherRows), fs, ft,
            s.Labels, ReferenceDistill.ToDouble(s.Wl), ReferenceDistill.ToDouble(s.Wf));
        double want = ReferenceDistill.Loss(inputs, DistillHyper.Default);
        Assert.True(Math.Abs(s.Step.Loss - want) <= 1e-5 * Math.Max(1, Math.Abs(want)), $"detection step loss {s.Step.Loss}, float64 op on location rows {want}");

        // Box loss: smooth L1 (beta 0.1) over the 4 outputs of the positive rows, divided by their count.
        double box = 0;
        int positives = 0;
        for (int row = 0; row < rows; row++)
        {
            if (s.Labels[row] == 0) continue;
            positives++;
            for (int j = 0; j < 4; j++)
            {
                double a = Math.Abs((double)boxes[row * 4 + j] - s.Targets[row * 4 + j]);
                box += a < 0.1 ? a * a / 0.2 : a - 0.05;
            }
        }
        Assert.True(positives > 0);
        Assert.Equal(box / positives, s.Student.ExtraLoss, 9);
        Assert.Equal(Enumerable.Range(0, rows).Select(r => r / L), Enumerable.Range(0, rows).Select(r => s.Step.Rows.SampleOfRow[r]));
    }

    [Fact]
    public void Gradients_of_detector_box_head_and_heads_match_central_differences_of_op_plus_box_loss()
    {
        using var s = Create("reference");
        var parameters = s.Step.Parameters.ToList();
        Assert.Contains(parameters, p => s.Student.Detector.BoxHead.Parameters.Contains(p));
        Assert.True(StepGradientCheck.Run(parameters, s.Run, trials: 3, relative: 3e-2) >= 3 * 8, "detector, box head and every projection head were checked");
    }

    [Fact]
    public void A_coarser_teacher_is_read_on_the_student_grid_and_a_finer_one_is_refused()
    {
        // Two images of a 2 x 2 teacher grid, 2 columns; factor 2 to a 4 x 4 grid.
        var teacher = Enumerable.Range(0, 2 * 4 * 2).Select(i => (float)i).ToArray();
        var student = new float[2 * 16 * 2];
        LocationResampling.ToStudentGrid(teacher, 2, 2, 2, 2, 2, student);
        // Image 0, student (y 0, x 3) -> teacher cell (0, 1) = row 1: values 2, 3.
        Assert.Equal([2f, 3f], student.AsSpan(3 * 2, 2).ToArray());
        // Image 0, student (y 2, x 1) -> teacher cell (1, 0) = row 2: values 4, 5.
        Assert.Equal([4f, 5f], student.AsSpan((2 * 4 + 1) * 2, 2).ToArray());
        // Image 1, student (y 3, x 3) -> teacher row 4 + 3 = 7: values 14, 15.
        Assert.Equal([14f, 15f], student.AsSpan((16 + 15) * 2, 2).ToArray());
        Assert.Equal(2, LocationResampling.Factor(8, 4, "det:a", "det:b"));
        Assert.Equal(1, LocationResampling.Factor(4, 4, "det:a", "det:b"));
        var e = Assert.Throws<MtkdInputException>(() => LocationResampling.Factor(4, 8, "det:a", "det:b"));
        Assert.Contains("teacher det:a (stride 4) cannot be read on the grid of student det:b (stride 8)", e.Message);
    }
}
