using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>One epoch of a detection distillation run: training loss (op plus box loss), test COCO AP and AP50, mean teacher weights.</summary>
public sealed record DetectionDistillEpoch(int Epoch, double Loss, double TestAp, double TestAp50, float[] MeanWl, double Seconds);

/// <summary>
/// Distils a detector (det: spec) from a detection pool's teachers through <see cref="DenseDistillLoop"/>, a row
/// per output location: the class logits [N * L, C+1] go through the fused op with the locations' assigned
/// labels (background 0), a coarser teacher's logits read on the student's grid (<see cref="LocationResampling"/>),
/// the image embeddings through the feature term, and the student's box head trains on
/// its positive locations as in its own training (<see cref="DetectorRows"/>; teacher boxes are not distilled).
/// Without teachers (none) the student trains on <see cref="DetectionLoss"/> alone; the probe loss is that loss
/// in eval mode. No flips, no checkpoints.
/// </summary>
public sealed class DetectionDistillRun(DetectionScenes scenes, string poolDir, CpuCompute compute, IDistillBackend backend)
{
    public IReadOnlyList<DetectionDistillEpoch> Run(DistillRecipe recipe, Action<DetectionDistillEpoch>? epochDone = null)
    {
        recipe.Validate();
        var spec = ModelSpec.Parse(recipe.Student, "student");
        if (spec.Family != ModelFamily.Det) throw new MtkdInputException($"--student {recipe.Student} is not a detector; give a det: spec, e.g. det:8x16x16");
        var paths = DenseDistillLoop.TeacherPaths(poolDir, TaskKind.Detection, scenes.FingerprintHex, scenes.Source);
        var teachers = paths.Select(p => DetectorCheckpoint.Load(p, compute).Detector).ToList();
        return DenseDistillLoop.Run(new DetectionTask(scenes, teachers, compute), recipe, scenes.ClassCount + 1, compute, backend, ToEpoch, epochDone);
    }

    private static DetectionDistillEpoch ToEpoch(DenseLoopEpoch e) => new(e.Epoch, e.Loss, e.First, e.Second, e.MeanWl, e.Seconds);

    private sealed class DetectionTask(DetectionScenes scenes, IReadOnlyList<Detector> teachers, CpuCompute compute) : DenseTask
    {
        private readonly (float[] Mean, float[] Std) _norm = scenes.Normalization();
        private DetectorRows _student = null!;
        private float[] _gradClass = [], _gradBox = [];
        private int[] _factors = [];

        public override string Source => scenes.Source;

        public override int TrainCount => scenes.Train.Count;

        public override IReadOnlyList<int> TeacherWidths { get; } = [.. teachers.Select(t => t.EmbeddingWidth)];

        public override IDenseStudent CreateStudent(string spec, Rng rng)
        {
            var detector = ModelSpec.Parse(spec, "student").BuildDetector(scenes.InputShape, scenes.ClassCount, compute, rng);
            _factors = [.. teachers.Select(t => LocationResampling.Factor(t.Stride, detector.Stride, t.Spec.ToString(), spec))];
            _student = new DetectorRows(detector);
            return _student;
        }

        public override DenseBatch NewBatch(int images) => new BoxBatch(images, scenes.InputShape.Size, _student.Detector.Locations);

        public override void Fill(ReadOnlySpan<int> indices, DenseBatch batch)
        {
            var b = (BoxBatch)batch;
            var grid = _student.Detector;
            int size = scenes.InputShape.Size, L = grid.Locations, four = BoxCoding.Outputs;
            for (int i = 0; i < indices.Length; i++)
            {
                int row = indices[i];
                scenes.Fill(scenes.Train, row, _norm.Mean, _norm.Std, flip: false, b.X.AsSpan(i * size, size));
                LocationAssignment.Targets(scenes.Train.Boxes[row], grid.GridWidth, grid.GridHeight, grid.Stride,
                    b.Labels.AsSpan(i * L, L), b.Targets.AsSpan(i * L * four, L * four));
            }
            _student.Bind(b.Labels, b.Targets);
        }

        public override ReadOnlySpan<float> RunTeacher(int teacher, DenseBatch batch, Span<float> rows)
        {
            var t = teachers[teacher];
            t.Forward(batch.X, batch.Images, training: false);
            if (_factors[teacher] == 1) t.ClassLogits.CopyTo(rows);
            else LocationResampling.ToStudentGrid(t.ClassLogits, batch.Images, t.GridWidth, t.GridHeight, _factors[teacher], t.ClassColumns, rows);
            return t.Embedding;
        }

        public override double StudentLoss(DenseBatch batch, bool train)
        {
            var b = (BoxBatch)batch;
            var d = _student.Detector;
            int n = b.Labels.Length;
            if (_gradClass.Length != n * d.ClassColumns) { _gradClass = new float[n * d.ClassColumns]; _gradBox = new float[n * BoxCoding.Outputs]; }
            d.Forward(b.X, b.Images, training: train);
            var loss = DetectionLoss.Compute(d.ClassLogits, d.BoxOutputs, b.Labels, b.Targets, d.ClassColumns, _gradClass, _gradBox);
            if (train) d.Backward(_gradClass, _gradBox);
            return loss.Total;
        }

        public override (double First, double Second) Evaluate()
        {
            var summary = DetectorInference.Run(_student.Detector, scenes, scenes.Test, _norm.Mean, _norm.Std).Summary;
            return (summary.AP, summary.AP50);
        }
    }

    private sealed class BoxBatch(int images, int inputSize, int locations) : DenseBatch(images, inputSize, locations)
    {
        public float[] Targets { get; } = new float[images * locations * BoxCoding.Outputs];
    }
}
