using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Core.Formats;
using MtkdRl.Onnx;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>One epoch of a detection distillation run: training loss (op plus box loss), test COCO AP and AP50, mean teacher weights.</summary>
public sealed record DetectionDistillEpoch(int Epoch, double Loss, double TestAp, double TestAp50, float[] MeanWl, double Seconds) : IDenseEpoch;

/// <summary>summary.json of a finished detection distillation run.</summary>
public sealed record DetectionDistillSummary(string Task, string Strategy, ulong Seed, string Student, int Epochs, double FinalTestAp,
    double BestTestAp, double FinalTestAp50, IReadOnlyList<string> Teachers);

/// <summary>
/// Distils a detector (det: spec) from a detection pool's teachers through <see cref="DenseDistillLoop"/>, a row
/// per output location: the class logits [N * L, C+1] go through the fused op with the locations' assigned
/// labels (background 0), a coarser teacher's logits read on the student's grid (<see cref="LocationResampling"/>),
/// the image embeddings through the feature term, and the student's box head trains on
/// its positive locations as in its own training (<see cref="DetectorRows"/>; teacher boxes are not distilled).
/// Without teachers (none) the student trains on <see cref="DetectionLoss"/> alone; the probe loss is that loss
/// in eval mode. No flips. With an output folder, a checkpoint every epoch (the student as a detector checkpoint)
/// and bit-for-bit resume.
/// </summary>
public sealed class DetectionDistillRun(DetectionScenes scenes, string poolDir, CpuCompute compute, IDistillBackend backend)
{
    public IReadOnlyList<DetectionDistillEpoch> Run(DistillRecipe recipe, Action<DetectionDistillEpoch>? epochDone = null) => Run(recipe, null, false, epochDone);

    /// <summary>Runs the recipe, checkpointing every epoch in <paramref name="outDir"/> (none when null); <paramref name="resume"/> continues the run there.</summary>
    public IReadOnlyList<DetectionDistillEpoch> Run(DistillRecipe recipe, string? outDir, bool resume, Action<DetectionDistillEpoch>? epochDone = null)
    {
        recipe.Validate();
        CheckDetector(recipe.Student);
        using var task = Task();
        var folder = outDir is null ? null : new DenseRunFolder<DetectionDistillEpoch>(outDir, resume, epochs => Summary(recipe, epochs, task.Pool.TeacherNames));
        return DenseDistillLoop.Run(task, recipe, scenes.ClassCount + 1, compute, backend, ToEpoch, epochDone, folder, Teachers);
    }

    /// <summary>Where the teachers' outputs come from (the pool's cache for the student's grid when there is one).</summary>
    public DenseTeacherOptions Teachers { get; init; } = new();

    /// <summary>The pool's <see cref="DenseTeacherCache"/> on the grid of <paramref name="student"/> (a det: spec; its stride sets the grid).</summary>
    public CacheBuildResult BuildCache(string student, bool half, Action<string, int, int>? progress = null, bool compress = true)
    {
        CheckDetector(student);
        using var task = Task();
        task.CreateStudent(student, new Rng(1));
        return DenseTeacherCache.Build(task, half, progress, compress);
    }

    /// <summary>Whether the pool has a teacher cache on the grid of <paramref name="student"/> that a run would read (a stale or corrupt one is refused in one line).</summary>
    public bool HasCache(string student)
    {
        CheckDetector(student);
        using var task = Task();
        task.CreateStudent(student, new Rng(1));
        using var cache = DenseTeacherCache.TryOpen(task);
        return cache is not null;
    }

    /// <summary>How far the pool's teachers agree on the training images' object locations, from its cache on the grid of <paramref name="student"/> (<see cref="DensePoolAgreement"/>).</summary>
    public PoolAgreementResult Agreement(string student)
    {
        CheckDetector(student);
        using var task = Task();
        task.CreateStudent(student, new Rng(1));
        return DensePoolAgreement.Measure(task);
    }

    private static void CheckDetector(string student)
    {
        if (ModelSpec.Parse(student, "student").Family != ModelFamily.Det)
            throw new MtkdInputException($"--student {student} is not a detector; give a det: spec, e.g. det:8x16x16");
    }

    private DetectionTask Task()
    {
        var pool = DensePool.Open(poolDir, TaskKind.Detection, scenes.FingerprintHex, scenes.Source);
        var teachers = pool.OpenNetworks<IDetectionNetwork>(
            onnx => OnnxDetectionTeacher.Open(poolDir, onnx, scenes, compute.Threads), path => DetectorCheckpoint.Load(path, compute).Detector);
        return new DetectionTask(scenes, pool, teachers, compute);
    }

    private static DetectionDistillEpoch ToEpoch(DenseLoopEpoch e) => new(e.Epoch, e.Loss, e.First, e.Second, e.MeanWl, e.Seconds);

    private static DetectionDistillSummary Summary(DistillRecipe recipe, IReadOnlyList<DetectionDistillEpoch> epochs, IReadOnlyList<string> teachers) =>
        new(TaskKind.Detection.Name(), recipe.Strategy, recipe.Seed, recipe.Student, recipe.Epochs, epochs[^1].TestAp,
            epochs.Max(e => e.TestAp), epochs[^1].TestAp50, teachers);

    private sealed class DetectionTask(DetectionScenes scenes, DensePool pool, IReadOnlyList<IDetectionNetwork> teachers, CpuCompute compute) : DenseTask, IDisposable
    {
        private readonly (float[] Mean, float[] Std) _norm = scenes.Normalization();
        private DetectorRows _student = null!;
        private float[] _gradClass = [], _gradBox = [];
        private int[] _factors = [];

        public override TaskKind Kind => TaskKind.Detection;

        public override string Source => scenes.Source;

        public override string DataFingerprint => scenes.FingerprintHex;

        public override DensePool Pool => pool;

        public override int TrainCount => scenes.Train.Count;

        public override IReadOnlyList<int> TeacherWidths { get; } = [.. teachers.Select(t => t.EmbeddingWidth)];

        public override IDenseStudent CreateStudent(string spec, Rng rng)
        {
            var detector = ModelSpec.Parse(spec, "student").BuildDetector(scenes.InputShape, scenes.ClassCount, compute, rng);
            _factors = [.. teachers.Select(t => LocationResampling.Factor(t.Stride, detector.Stride, t.Description, spec))];
            _student = new DetectorRows(detector);
            return _student;
        }

        public override DenseCacheGrid StudentGrid =>
            new(_student.Detector.GridWidth, _student.Detector.GridHeight, _student.Detector.Stride, _student.Detector.ClassColumns);

        public override void SaveStudent(string basePath, int epoch, long step) =>
            DetectorCheckpoint.Save(basePath, _student.Detector, StudentConfig(scenes.Descriptor.Classes, new DatasetIdentity(scenes.Name, scenes.FingerprintHex),
                new NormalizationRecord(_norm.Mean, _norm.Std), epoch, step));

        public override void LoadStudent(string basePath) =>
            CopyStudent(basePath, DetectorCheckpoint.Load(basePath, compute).Detector, _student.Detector, d => (d.Spec.ToString(), d.Classes, d.NamedTensors));

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
            t.Infer(batch.X, batch.Images);
            if (_factors[teacher] == 1) t.ClassLogits.CopyTo(rows);
            else LocationResampling.ToStudentGrid(t.ClassLogits, batch.Images, t.GridWidth, t.GridHeight, _factors[teacher], t.ClassColumns, rows);
            return t.Embedding;
        }

        /// <summary>Closes the teachers that hold a runtime session (ONNX).</summary>
        public void Dispose()
        {
            foreach (var t in teachers) (t as IDisposable)?.Dispose();
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
