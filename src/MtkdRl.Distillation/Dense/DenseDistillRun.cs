using System.Diagnostics;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Scenes;
using MtkdRl.Reports.Metrics;
using MtkdRl.Strategies;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>One epoch of a dense run: training loss, test mIoU and pixel accuracy, mean teacher weights.</summary>
public sealed record DenseEpoch(int Epoch, double Loss, double TestMeanIoU, double TestPixelAccuracy, float[] MeanWl, double Seconds);

/// <summary>
/// Distils a segmentation student (unet or fcn spec) from a segmentation pool's teachers through
/// <see cref="DenseDistillLoop"/>, a row per pixel; the probe loss is the student's pixel cross-entropy. No
/// checkpoints: a dense run is not resumable yet.
/// </summary>
public sealed class DenseDistillRun(SceneDataset data, string poolDir, CpuCompute compute, IDistillBackend backend)
{
    public const int ProbeImages = DenseDistillLoop.ProbeImages;

    public IReadOnlyList<DenseEpoch> Run(DistillRecipe recipe, Action<DenseEpoch>? epochDone = null)
    {
        recipe.Validate();
        var paths = DenseDistillLoop.TeacherPaths(poolDir, TaskKind.Segmentation, SegmentationPool.Identity(data).Fingerprint, data.Source);
        var teachers = paths.Select(p => SegmentationCheckpoint.Load(p, compute).Model).ToList();
        return DenseDistillLoop.Run(new SegmentationTask(data, teachers, compute), recipe, data.ClassCount + 1, compute, backend, ToEpoch, epochDone);
    }

    private static DenseEpoch ToEpoch(DenseLoopEpoch e) => new(e.Epoch, e.Loss, e.First, e.Second, e.MeanWl, e.Seconds);

    private sealed class SegmentationTask(SceneDataset data, IReadOnlyList<SegmentationModel> teachers, CpuCompute compute) : DenseTask
    {
        private readonly ChannelNormalization _norm = SceneInputs.Normalization(data.Train);
        private SegmentationModel _student = null!;
        private PixelCrossEntropy _ce = null!;
        private float[] _grad = [];

        public override string Source => data.Source;

        public override int TrainCount => data.Train.Count;

        public override IReadOnlyList<int> TeacherWidths { get; } = [.. teachers.Select(t => t.EmbeddingWidth)];

        public override IDenseStudent CreateStudent(string spec, Rng rng)
        {
            _student = ModelSpec.Parse(spec, "student").BuildSegmentation(teachers[0].InputShape, data.ClassCount + 1, compute, rng);
            _ce = new PixelCrossEntropy(_student.Classes, _student.Pixels);
            return new SegmentationRows(_student);
        }

        public override DenseBatch NewBatch(int images) => new MaskBatch(images, teachers[0].InputShape.Size, data.Train.Canvas * data.Train.Canvas);

        public override void Fill(ReadOnlySpan<int> indices, DenseBatch batch)
        {
            var b = (MaskBatch)batch;
            SceneInputs.Fill(data.Train, _norm, indices, b.X, b.Masks);
            PixelRows.Labels(b.Masks, data.ClassCount + 1, b.Labels);
        }

        public override ReadOnlySpan<float> RunTeacher(int teacher, DenseBatch batch, Span<float> rows)
        {
            var t = teachers[teacher];
            t.Forward(batch.X, batch.Images, training: false);
            PixelRows.ToRows(t.Logits, batch.Images, t.Classes, t.Pixels, rows);
            return t.Embedding;
        }

        public override double StudentLoss(DenseBatch batch, bool train)
        {
            var b = (MaskBatch)batch;
            int n = b.Images * _student.Classes * _student.Pixels;
            if (_grad.Length < n) _grad = new float[n];
            _student.Forward(b.X, b.Images, training: train);
            double loss = _ce.Compute(_student.Logits, b.Masks, b.Images, _grad.AsSpan(0, n));
            if (train) _student.Backward(_grad.AsSpan(0, n));
            return loss;
        }

        public override (double First, double Second) Evaluate()
        {
            var test = SegmentationEvaluator.Evaluate(_student, data.Test, _norm);
            return (test.MeanIoU, test.PixelAccuracy);
        }
    }

    private sealed class MaskBatch(int images, int inputSize, int pixels) : DenseBatch(images, inputSize, pixels)
    {
        public byte[] Masks { get; } = new byte[images * pixels];
    }
}
