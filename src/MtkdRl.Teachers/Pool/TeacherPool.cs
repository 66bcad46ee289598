using MtkdRl.Core;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Datasets;
using MtkdRl.Data.Formats;
using MtkdRl.Training;

namespace MtkdRl.Teachers;

/// <summary>One row of the table `teachers train` prints.</summary>
/// <param name="Augmentation">What the teacher was trained with (its recipe's crop and flip, as resolved for the data).</param>
public sealed record TrainedTeacher(PoolTeacher Entry, bool Skipped, bool Resumed, Augmentation Augmentation);

/// <summary>
/// A folder holding a teacher pool: pool.json, one checkpoint per trained teacher (NAME.json +
/// NAME.safetensors) with its metrics (NAME.metrics.jsonl), the float32 NPY outputs of imported teachers, and
/// the caches built from them.
/// </summary>
public static class TeacherPool
{
    /// <summary>A fresh manifest for <paramref name="data"/>, or the existing one after checking it belongs to the same dataset.</summary>
    public static PoolManifest OpenOrCreate(string poolDir, ImageDataset data)
    {
        if (File.Exists(poolDir)) throw new MtkdInputException($"--pool {poolDir}: is a file, not a folder");
        var identity = new DatasetIdentity(data.Name, data.FingerprintHex);
        if (PoolManifest.Exists(poolDir))
        {
            var m = PoolManifest.Read(poolDir);
            CheckDataset(poolDir, m, data);
            return m;
        }
        return new PoolManifest
        {
            Dataset = identity,
            Classes = data.ClassCount,
            ClassNames = data.ClassNames,
            InputShape = [data.Channels, data.Height, data.Width],
            TrainRows = data.Train.Count,
            TestRows = data.Test.Count,
        };
    }

    /// <summary>Refuses a pool of another task, and a dataset other than the one the pool was made for.</summary>
    public static void CheckDataset(string poolDir, PoolManifest m, ImageDataset data)
    {
        TaskKinds.Require(TaskKind.Classification, m.TaskKind(poolDir), PoolManifest.PathIn(poolDir));
        if (m.Dataset.Fingerprint != data.FingerprintHex)
            throw new MtkdInputException(
                $"{PoolManifest.PathIn(poolDir)}: the pool belongs to {m.Dataset.Name} ({m.Dataset.ShortFingerprint}), --data holds {data.Name} ({data.ShortFingerprint}); use another --pool");
    }

    /// <summary>
    /// Trains the teachers of <paramref name="recipe"/> (<paramref name="source"/> names it in errors) into
    /// <paramref name="poolDir"/>, first keeping the recipe in the pool folder (recipe.json, merged with the one
    /// already there), so the pool can be retrained or grown from the file it was made from.
    /// </summary>
    public static IReadOnlyList<TrainedTeacher> Train(string poolDir, ImageDataset data, PoolRecipe recipe, string source,
        CpuCompute compute, ITrainingObserver? observer = null, CancellationToken cancel = default)
    {
        var plans = recipe.Plans(data, source);
        using var poolLock = FolderLock.Acquire(poolDir);
        var manifest = Prepare(poolDir, data, plans);
        string kept = Path.Combine(poolDir, PoolRecipe.FileName);
        recipe.MergedInto(File.Exists(kept) ? PoolRecipe.Read(kept) : null).Write(kept);
        return TrainLocked(poolDir, data, plans, manifest, compute, observer, cancel);
    }

    /// <summary>
    /// Trains every planned teacher into <paramref name="poolDir"/>, one after another, updating pool.json after
    /// each. A teacher whose checkpoint already completed the same recipe is kept as is; an interrupted one resumes.
    /// </summary>
    public static IReadOnlyList<TrainedTeacher> Train(string poolDir, ImageDataset data, IReadOnlyList<TeacherPlan> plans,
        CpuCompute compute, ITrainingObserver? observer = null, CancellationToken cancel = default)
    {
        using var poolLock = FolderLock.Acquire(poolDir);
        var manifest = Prepare(poolDir, data, plans);
        return TrainLocked(poolDir, data, plans, manifest, compute, observer, cancel);
    }

    /// <summary>Trains the plans into a pool folder this process holds the lock of.</summary>
    private static IReadOnlyList<TrainedTeacher> TrainLocked(string poolDir, ImageDataset data, IReadOnlyList<TeacherPlan> plans, PoolManifest manifest,
        CpuCompute compute, ITrainingObserver? observer, CancellationToken cancel)
    {
        var trainer = new SupervisedTrainer(data, compute);
        var results = new List<TrainedTeacher>();
        foreach (var plan in plans)
        {
            if (cancel.IsCancellationRequested) break;
            string checkpoint = Path.Combine(poolDir, plan.Name);
            var existing = manifest.Teachers.FirstOrDefault(t => t.Name == plan.Name);
            if (existing is not null && File.Exists(Checkpoint.ConfigPathOf(checkpoint)))
            {
                var done = Checkpoint.ReadConfig(checkpoint);
                if (done.Recipe == plan.Recipe && done.Epoch >= plan.Recipe.Epochs)
                {
                    results.Add(new TrainedTeacher(existing, Skipped: true, Resumed: false, Augmented(plan)));
                    continue;
                }
            }
            var outcome = trainer.Train(plan.Name, plan.Recipe, checkpoint, Checkpoint.MetricsPathOf(checkpoint), observer, cancel);
            if (!outcome.Completed) break;
            var entry = new PoolTeacher(plan.Name, outcome.Model.Spec.ToString(), TeacherKind.Trained,
                Path.GetFileName(Checkpoint.ConfigPathOf(checkpoint)), null, outcome.Checkpoint.TestAccuracy ?? 0,
                outcome.Model.EmbeddingWidth, outcome.Model.ParameterCount, Math.Round(outcome.Seconds, 2));
            manifest = manifest.With(entry);
            manifest.Write(poolDir);
            results.Add(new TrainedTeacher(entry, Skipped: false, outcome.Resumed, Augmented(plan)));
        }
        return results;
    }

    private static Augmentation Augmented(TeacherPlan plan) => new(plan.Recipe.CropPadding, plan.Recipe.HorizontalFlip);

    /// <summary>Checks the plans against the pool before anything is written, creates the folder and returns the manifest.</summary>
    private static PoolManifest Prepare(string poolDir, ImageDataset data, IReadOnlyList<TeacherPlan> plans)
    {
        foreach (var plan in plans) plan.Recipe.Validate($"teacher '{plan.Name}'");
        var manifest = OpenOrCreate(poolDir, data);
        var imported = manifest.Teachers.FirstOrDefault(t => t.Kind == TeacherKind.Imported && plans.Any(p => p.Name == t.Name));
        if (imported is not null)
            throw new MtkdInputException($"{PoolManifest.PathIn(poolDir)}: '{imported.Name}' is an imported teacher; a recipe cannot train over it");
        Directory.CreateDirectory(poolDir);
        return manifest;
    }

    /// <summary>NPY files a framework wrote for one teacher; TestEmbeddings may be null.</summary>
    public sealed record ImportFiles(string TrainLogits, string TrainEmbeddings, string TestLogits, string? TestEmbeddings);

    /// <summary>
    /// Adds a teacher computed elsewhere: checks every file's shape against the pool's dataset (rows = split size,
    /// logit columns = C, both embedding files of the same width D) and that every value is finite, stores
    /// them as float32 NPY in the pool folder, and lists the teacher in pool.json. Its test accuracy is scored
    /// from the test logits when the dataset is at hand. Without test embeddings, the test cache holds zeros
    /// for this teacher's embedding.
    /// </summary>
    public static PoolTeacher Import(string poolDir, string name, ImportFiles files, ImageDataset? data = null) =>
        Import(poolDir, name, data, manifest => ReadOutputs(files, manifest));

    /// <summary>One teacher's outputs over both splits (TestEmbeddings may be null), and the network they came from when it is kept.</summary>
    public sealed record TeacherOutputs(FloatMatrix TrainLogits, FloatMatrix TrainEmbeddings, FloatMatrix TestLogits, FloatMatrix? TestEmbeddings,
        ImportedNetwork? Network = null);

    /// <summary>The network an imported teacher came from, copied into the pool beside its outputs (an ONNX file).</summary>
    /// <param name="Source">The file to copy; <paramref name="Entry"/>.File is its name in the pool.</param>
    public sealed record ImportedNetwork(string Source, OnnxTeacherFile Entry, string Spec);

    /// <summary>
    /// Adds a teacher whose outputs <paramref name="compute"/> produces for the pool's manifest (read from files, or
    /// computed by running its network), with the pool locked; stores them as <see cref="Import(string, string, ImportFiles, ImageDataset?)"/>
    /// does, with their network (when they name one) copied beside them and named in the teacher's entry.
    /// </summary>
    public static PoolTeacher Import(string poolDir, string name, ImageDataset? data, Func<PoolManifest, TeacherOutputs> compute)
    {
        CheckName(name);
        using var poolLock = FolderLock.Acquire(poolDir);
        PoolManifest manifest;
        if (PoolManifest.Exists(poolDir))
        {
            manifest = PoolManifest.Read(poolDir);
            if (data is not null) CheckDataset(poolDir, manifest, data);
        }
        else if (data is not null)
        {
            manifest = OpenOrCreate(poolDir, data);
        }
        else
        {
            throw new MtkdInputException($"{PoolManifest.PathIn(poolDir)}: no such file (train a pool first, or pass --data to start one from imports)");
        }
        if (manifest.Teachers.Any(t => t.Name == name && t.Kind == TeacherKind.Trained))
            throw new MtkdInputException($"{PoolManifest.PathIn(poolDir)}: '{name}' is already a trained teacher of this pool; choose another --name");

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var outputs = compute(manifest);
        var (trainLogits, trainEmbeddings, testLogits, testEmbeddings, network) = outputs;
        CheckMatrix(trainLogits, "train logits", manifest.TrainRows, manifest.Classes);
        CheckMatrix(trainEmbeddings, "train embeddings", manifest.TrainRows, null);
        CheckMatrix(testLogits, "test logits", manifest.TestRows, manifest.Classes);
        if (testEmbeddings is not null) CheckMatrix(testEmbeddings, "test embeddings", manifest.TestRows, trainEmbeddings.Columns);

        // Without the dataset the labels are unknown; -1 records "not scored".
        double accuracy = data is not null ? Evaluator.FromLogits(testLogits.Values, data.Test).Accuracy : -1;
        var stored = new ImportedOutputs($"{name}.train-logits.npy", $"{name}.train-embeddings.npy", $"{name}.test-logits.npy",
            testEmbeddings is null ? null : $"{name}.test-embeddings.npy");
        Directory.CreateDirectory(poolDir);
        NpyFile.Write(Path.Combine(poolDir, stored.TrainLogits), trainLogits.Values, trainLogits.Rows, trainLogits.Columns);
        NpyFile.Write(Path.Combine(poolDir, stored.TrainEmbeddings), trainEmbeddings.Values, trainEmbeddings.Rows, trainEmbeddings.Columns);
        NpyFile.Write(Path.Combine(poolDir, stored.TestLogits), testLogits.Values, testLogits.Rows, testLogits.Columns);
        if (testEmbeddings is not null)
            NpyFile.Write(Path.Combine(poolDir, stored.TestEmbeddings!), testEmbeddings.Values, testEmbeddings.Rows, testEmbeddings.Columns);
        if (network is not null) AtomicFile.WriteAllBytes(Path.Combine(poolDir, network.Entry.File), File.ReadAllBytes(network.Source));
        var entry = new PoolTeacher(name, network?.Spec ?? "imported", TeacherKind.Imported, null, stored,
            accuracy, trainEmbeddings.Columns, 0, network is null ? 0 : Math.Round(clock.Elapsed.TotalSeconds, 2), network?.Entry);
        manifest.With(entry).Write(poolDir);
        return entry;
    }

    private static TeacherOutputs ReadOutputs(ImportFiles files, PoolManifest manifest)
    {
        var trainLogits = ReadMatrix(files.TrainLogits, "train logits", manifest.TrainRows, manifest.Classes);
        var trainEmbeddings = ReadMatrix(files.TrainEmbeddings, "train embeddings", manifest.TrainRows, null);
        var testLogits = ReadMatrix(files.TestLogits, "test logits", manifest.TestRows, manifest.Classes);
        var testEmbeddings = files.TestEmbeddings is null ? null : ReadMatrix(files.TestEmbeddings, "test embeddings", manifest.TestRows, trainEmbeddings.Columns);
        return new TeacherOutputs(trainLogits, trainEmbeddings, testLogits, testEmbeddings);
    }

    private static FloatMatrix ReadMatrix(string path, string what, int rows, int? columns)
    {
        var m = NpyFile.Read(path).ToFiniteMatrix(what);
        CheckMatrix(m, what, rows, columns);
        return m;
    }

    private static void CheckMatrix(FloatMatrix m, string what, int rows, int? columns)
    {
        string path = m.Source;
        if (m.Rows != rows)
            throw new MtkdInputException($"{path}: {what} have {m.Rows} rows, the pool's {(what.StartsWith("train") ? "training" : "test")} split has {rows}");
        if (columns is int c && m.Columns != c)
            throw new MtkdInputException($"{path}: {what} have {m.Columns} columns, expected {c}{(what.EndsWith("logits") ? " (one per class)" : " (the train embeddings' width)")}");
        if (m.Columns < 1) throw new MtkdInputException($"{path}: {what} have no columns");
    }

    /// <summary>Teacher names become file names: letters, digits, '-', '_' and '.' only, not starting with '.'.</summary>
    public static void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.StartsWith('.') || name.Length > 64
            || !name.All(ch => char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_' or '.'))
            throw new MtkdInputException($"--name '{name}': a teacher name needs 1-64 letters, digits, '-', '_' or '.', not starting with '.'");
    }
}
