using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Core.Formats;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Scenes;
using MtkdRl.Onnx;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>One epoch of a dense run: training loss, test mIoU and pixel accuracy, mean teacher weights.</summary>
public sealed record DenseEpoch(int Epoch, double Loss, double TestMeanIoU, double TestPixelAccuracy, float[] MeanWl, double Seconds) : IDenseEpoch;

/// <summary>summary.json of a finished dense run.</summary>
public sealed record DenseDistillSummary(string Task, string Strategy, ulong Seed, string Student, int Epochs, double FinalTestMeanIoU,
    double BestTestMeanIoU, double FinalTestPixelAccuracy, IReadOnlyList<string> Teachers);

/// <summary>
/// Distils a segmentation student (the recipe's unet or fcn spec) from a segmentation pool's teachers through
/// <see cref="DenseDistillLoop"/>, a row per pixel: the student's and teachers' [N, C+1, P] maps as pixel rows,
/// a mask's 255 pixels ignored rows. Without teachers (none) the student trains on its pixel cross-entropy alone;
/// the probe loss is that cross-entropy in eval mode. No flips. With an output folder, a checkpoint every epoch
/// (the student as a segmentation checkpoint) and bit-for-bit resume.
/// </summary>
public sealed class DenseDistillRun(SceneDataset data, string poolDir, CpuCompute compute, IDistillBackend backend)
{
    public const int ProbeImages = DenseDistillLoop.ProbeImages;

    public IReadOnlyList<DenseEpoch> Run(DistillRecipe recipe, Action<DenseEpoch>? epochDone = null) => Run(recipe, null, false, epochDone);

    /// <summary>Runs the recipe, checkpointing every epoch in <paramref name="outDir"/> (none when null); <paramref name="resume"/> continues the run there.</summary>
    public IReadOnlyList<DenseEpoch> Run(DistillRecipe recipe, string? outDir, bool resume, Action<DenseEpoch>? epochDone = null)
    {
        using var task = Task();
        var folder = outDir is null ? null : new DenseRunFolder<DenseEpoch>(outDir, resume, epochs => Summary(recipe, epochs, task.Pool.TeacherNames));
        return DenseDistillLoop.Run(task, recipe, data.ClassCount + 1, compute, backend, ToEpoch, epochDone, folder, Teachers);
    }

    /// <summary>Where the teachers' outputs come from (the pool's cache for the student's grid when there is one).</summary>
    public DenseTeacherOptions Teachers { get; init; } = new();

    /// <summary>The pool's <see cref="DenseTeacherCache"/> on the grid of students like <paramref name="student"/> (every segmentation student's grid is the canvas).</summary>
    public CacheBuildResult BuildCache(string student, bool half, Action<string, int, int>? progress = null, bool compress = true)
    {
        using var task = Task();
        task.CreateStudent(student, new Rng(1));
        return DenseTeacherCache.Build(task, half, progress, compress);
    }

    /// <summary>Whether the pool has a teacher cache on the canvas grid that a run would read (a stale or corrupt one is refused in one line).</summary>
    public bool HasCache(string student)
    {
        using var task = Task();
        task.CreateStudent(student, new Rng(1));
        using var cache = DenseTeacherCache.TryOpen(task);
        return cache is not null;
    }

    /// <summary>How far the pool's teachers agree on the training images' object pixels, from its cache (<see cref="DensePoolAgreement"/>).</summary>
    public PoolAgreementResult Agreement(string student)
    {
        using var task = Task();
        task.CreateStudent(student, new Rng(1));
        return DensePoolAgreement.Measure(task);
    }

    private SegmentationTask Task()
    {
        string fingerprint = SegmentationPool.Identity(data).Fingerprint;
        var pool = DensePool.Open(poolDir, TaskKind.Segmentation, fingerprint, data.Source);
        var networks = pool.OpenNetworks<ISegmentationNetwork>(
            onnx => OnnxSegmentationTeacher.Open(poolDir, onnx, data, compute.Threads), path => SegmentationCheckpoint.Load(path, compute).Model);
        var teachers = networks.Select((network, t) => FlipTestTeacher.AsServed(pool.Entries[t], network)).ToList();
        return new SegmentationTask(data, fingerprint, pool, teachers, compute);
    }

    private static DenseEpoch ToEpoch(DenseLoopEpoch e) => new(e.Epoch, e.Loss, e.First, e.Second, e.MeanWl, e.Seconds);

    private static DenseDistillSummary Summary(DistillRecipe recipe, IReadOnlyList<DenseEpoch> epochs, IReadOnlyList<string> teachers) =>
        new(TaskKind.Segmentation.Name(), recipe.Strategy, recipe.Seed, recipe.Student, recipe.Epochs, epochs[^1].TestMeanIoU,
            epochs.Max(e => e.TestMeanIoU), epochs[^1].TestPixelAccuracy, teachers);

    private sealed class SegmentationTask(SceneDataset data, string fingerprint, DensePool pool, IReadOnlyList<ISegmentationNetwork> teachers,
        CpuCompute compute) : DenseTask, IDisposable
    {
        private readonly ChannelNormalization _norm = SceneInputs.Normalization(data.Train);
        private readonly int _classes = data.ClassCount + 1;
        private SegmentationRows _student = null!;
        private PixelCrossEntropy _ce = null!;
        private float[] _grad = [];

        public override TaskKind Kind => TaskKind.Segmentation;

        public override string Source => data.Source;

        public override string DataFingerprint => fingerprint;

        public override DensePool Pool => pool;

        public override int TrainCount => data.Train.Count;

        public override IReadOnlyList<int> TeacherWidths { get; } = [.. teachers.Select(t => t.EmbeddingWidth)];

        public override IDenseStudent CreateStudent(string spec, Rng rng)
        {
            var model = ModelSpec.Parse(spec, "student").BuildSegmentation(teachers[0].InputShape, _classes, compute, rng);
            _student = new SegmentationRows(model);
            _ce = new PixelCrossEntropy(_classes, model.Pixels);
            return _student;
        }

        public override DenseCacheGrid StudentGrid =>
            new(_student.Model.InputShape.Width, _student.Model.InputShape.Height, 1, _classes);

        public override void SaveStudent(string basePath, int epoch, long step) =>
            SegmentationCheckpoint.Save(basePath, _student.Model, StudentConfig(["background", .. data.Descriptor.Classes], SegmentationPool.Identity(data),
                new NormalizationRecord([.. _norm.Mean], [.. _norm.Std]), epoch, step));

        public override void LoadStudent(string basePath) =>
            CopyStudent(basePath, SegmentationCheckpoint.Load(basePath, compute).Model, _student.Model, m => (m.Spec.ToString(), m.Classes, m.NamedTensors));

        public override DenseBatch NewBatch(int images) => new MaskBatch(images, _student.Model.InputShape.Size, _student.RowsPerImage);

        public override void Fill(ReadOnlySpan<int> indices, DenseBatch batch)
        {
            var b = (MaskBatch)batch;
            SceneInputs.Fill(data.Train, _norm, indices, b.X, b.Masks);
            PixelRows.Labels(b.Masks, _classes, b.Labels);
        }

        public override ReadOnlySpan<float> RunTeacher(int teacher, DenseBatch batch, Span<float> rows)
        {
            var t = teachers[teacher];
            t.Infer(batch.X, batch.Images);
            PixelRows.ToRows(t.Logits, batch.Images, _classes, t.Pixels, rows);
            return t.Embedding;
        }

        /// <summary>Closes the teachers that hold a runtime session (ONNX).</summary>
        public void Dispose()
        {
            foreach (var t in teachers) (t as IDisposable)?.Dispose();
        }

        public override double StudentLoss(DenseBatch batch, bool train)
        {
            var b = (MaskBatch)batch;
            var model = _student.Model;
            int n = b.Images * _classes * model.Pixels;
            if (_grad.Length < n) _grad = new float[n];
            model.Forward(b.X, b.Images, training: train);
            double loss = _ce.Compute(model.Logits, b.Masks, b.Images, _grad.AsSpan(0, n));
            if (train) model.Backward(_grad.AsSpan(0, n));
            return loss;
        }

        public override (double First, double Second) Evaluate()
        {
            var test = SegmentationEvaluator.Evaluate(_student.Model, data.Test, _norm);
            return (test.MeanIoU, test.PixelAccuracy);
        }
    }

    private sealed class MaskBatch(int images, int inputSize, int pixels) : DenseBatch(images, inputSize, pixels)
    {
        public byte[] Masks { get; } = new byte[images * pixels];
    }
}
