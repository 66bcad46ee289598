using System.Diagnostics;
using MtkdRl.Core;
using MtkdRl.Core.Cluster;
using MtkdRl.Core.Formats;
using MtkdRl.Data.Datasets;
using MtkdRl.Data.Formats;
using MtkdRl.Training;

namespace MtkdRl.Teachers;

/// <summary>One cache file built: split, path, size and time.</summary>
public sealed record CacheBuildResult(string Split, string Path, int Rows, int Teachers, int F, CacheDType DType, long Bytes, double Seconds);

/// <summary>
/// The pool's teacher outputs as one <see cref="TeacherCacheFile"/> per split (cache-train.mtkc,
/// cache-test.mtkc in the pool folder): each trained teacher runs once over the split in eval mode with no
/// augmentation, in dataset order; imported teachers contribute their stored outputs. The header records
/// the dataset's fingerprint and the pool's (<see cref="PoolFingerprint"/>), and <see cref="Open"/> refuses a
/// cache whose fingerprints no longer match what is on disk.
/// </summary>
public static class TeacherCache
{
    public static readonly IReadOnlyList<string> Splits = ["train", "test"];

    public static string FileName(string split) => $"cache-{split}.mtkc";

    public static string PathOf(string poolDir, string split) => Path.Combine(poolDir, FileName(split));

    /// <summary>
    /// Builds both splits' caches; <paramref name="progress"/> hears (split, teacher, rows done, rows). With a
    /// <paramref name="job"/> of several ranks, rank r runs the evaluation batches b with b mod N = r and sends its
    /// rows to rank 0, which alone holds the pool's lock, writes the files and hears progress; the batches are the
    /// single process's, so the file is byte for byte the same. Every rank returns rank 0's results.
    /// </summary>
    public static IReadOnlyList<CacheBuildResult> Build(string poolDir, ImageDataset data, bool half, CpuCompute compute,
        Action<string, string, int, int>? progress = null, ICommunicator? job = null)
    {
        job ??= SingleProcess.Instance;
        if (!job.IsRoot) progress = null;
        using var poolLock = job.IsRoot ? FolderLock.Acquire(poolDir) : null;
        var manifest = PoolManifest.Read(poolDir);
        TeacherPool.CheckDataset(poolDir, manifest, data);
        if (manifest.Teachers.Count == 0)
            throw new MtkdInputException($"{PoolManifest.PathIn(poolDir)}: the pool has no teachers yet");
        var (poolFingerprint, sources) = PoolFingerprint.Compute(poolDir, manifest);
        var teachers = manifest.Teachers.Select((t, i) => new CachedTeacher(t.Name, t.Spec, t.EmbeddingWidth, sources[i])).ToList();

        // Load every model before writing anything, so a bad checkpoint fails before any cache is touched.
        var models = new Dictionary<string, LoadedCheckpoint>();
        foreach (var t in manifest.Teachers.Where(t => t.Kind == TeacherKind.Trained))
        {
            var loaded = Checkpoint.Load(Path.Combine(poolDir, t.Checkpoint!), compute);
            Evaluator.CheckFits(data.Train, loaded.Model, t.Name);
            if (loaded.Model.EmbeddingWidth != t.EmbeddingWidth)
                throw new MtkdInputException(
                    $"{PoolManifest.PathIn(poolDir)}: teacher '{t.Name}' is listed with D = {t.EmbeddingWidth}, its checkpoint has {loaded.Model.EmbeddingWidth}");
            models[t.Name] = loaded;
        }

        var results = new List<CacheBuildResult>();
        foreach (string split in Splits)
        {
            var clock = Stopwatch.StartNew();
            var images = split == "train" ? data.Train : data.Test;
            var header = new TeacherCacheHeader(TeacherCacheHeader.CurrentFormat, half ? CacheDType.F16 : CacheDType.F32, split,
                images.Count, manifest.Classes, data.Name, data.FingerprintHex, poolFingerprint, teachers, "");
            string path = PathOf(poolDir, split);
            using (var writer = job.IsRoot ? new TeacherCacheFile.Writer(path, header) : null)
            {
                for (int k = 0; k < manifest.Teachers.Count; k++)
                {
                    var t = manifest.Teachers[k];
                    int teacher = k;
                    progress?.Invoke(split, t.Name, 0, images.Count);
                    if (t.Kind == TeacherKind.Trained)
                    {
                        var m = models[t.Name];
                        var part = new CacheRowBlocks(manifest.Classes, t.EmbeddingWidth);
                        Evaluator.Run(m.Model, images, m.Normalization, t.Name, runsBatch: b => b % job.Size == job.Rank,
                            visit: (first, rows, logits, embeddings) =>
                            {
                                if (writer is not null) writer.Write(teacher, first, logits, embeddings);
                                else part.Add(first, rows, logits, embeddings);
                                progress?.Invoke(split, t.Name, first + rows, images.Count);
                            });
                        if (job.Size > 1) CacheRowBlocks.GatherInto(job, part, writer, teacher);
                    }
                    else if (writer is not null)
                    {
                        WriteImported(writer, teacher, poolDir, t, split, images.Count, manifest.Classes);
                        progress?.Invoke(split, t.Name, images.Count, images.Count);
                    }
                }
                if (writer is not null) header = writer.Commit();
            }
            // Every rank waits for rank 0's rename, so the file is there for whatever runs next on any rank.
            job.Barrier();
            results.Add(new CacheBuildResult(split, path, images.Count, header.K, header.F, header.DType, new FileInfo(path).Length, clock.Elapsed.TotalSeconds));
        }
        return results;
    }

    private static void WriteImported(TeacherCacheFile.Writer writer, int teacher, string poolDir, PoolTeacher t, string split, int rows, int classes)
    {
        var o = t.Outputs!;
        string logitsFile = split == "train" ? o.TrainLogits : o.TestLogits;
        string? embeddingFile = split == "train" ? o.TrainEmbeddings : o.TestEmbeddings;
        var logits = NpyFile.Read(Path.Combine(poolDir, logitsFile)).ToFiniteMatrix($"{split} logits");
        var embeddings = embeddingFile is null
            ? new FloatMatrix(new float[(long)rows * t.EmbeddingWidth], rows, t.EmbeddingWidth, "zeros")
            : NpyFile.Read(Path.Combine(poolDir, embeddingFile)).ToFiniteMatrix($"{split} embeddings");
        if (logits.Rows != rows || logits.Columns != classes)
            throw new MtkdInputException($"{Path.Combine(poolDir, logitsFile)}: shape [{logits.Rows},{logits.Columns}], the {split} split needs [{rows},{classes}]");
        if (embeddings.Rows != rows || embeddings.Columns != t.EmbeddingWidth)
            throw new MtkdInputException($"{Path.Combine(poolDir, embeddingFile!)}: shape [{embeddings.Rows},{embeddings.Columns}], the {split} split needs [{rows},{t.EmbeddingWidth}]");
        writer.Write(teacher, 0, logits.Values, embeddings.Values);
    }

    /// <summary>
    /// Opens a split's cache after checking that it was built from the pool as it is now and, when
    /// <paramref name="data"/> is given, from that dataset; a stale cache is refused with the command that rebuilds it.
    /// </summary>
    public static TeacherCacheFile Open(string poolDir, string split, ImageDataset? data = null)
    {
        if (!Splits.Contains(split)) throw new MtkdInputException($"cache split '{split}': expected train or test");
        string path = PathOf(poolDir, split);
        if (!File.Exists(path)) throw new MtkdInputException($"{path}: no such file; run `mtkd teachers cache --pool {poolDir}` first");
        var manifest = PoolManifest.Read(poolDir);
        string dataset = data?.FingerprintHex ?? manifest.Dataset.Fingerprint;
        string pool = PoolFingerprint.Compute(poolDir, manifest).Pool;
        var cache = TeacherCacheFile.Open(path);
        try
        {
            var h = cache.Header;
            if (h.Task is not null) throw new MtkdInputException($"{path}: holds {h.Task} teacher outputs, not a classification cache");
            if (h.Split != split) throw new MtkdInputException($"{path}: holds the {h.Split} split, not {split}");
            if (h.DatasetFingerprint != dataset)
                throw new MtkdInputException($"{path}: stale: built for dataset {Short(h.DatasetFingerprint)}, dataset is now {Short(dataset)}; run `mtkd teachers cache` again");
            if (h.PoolFingerprint != pool)
                throw new MtkdInputException($"{path}: stale: built for pool {Short(h.PoolFingerprint)}, pool is now {Short(pool)}; run `mtkd teachers cache` again");
            return cache;
        }
        catch
        {
            cache.Dispose();
            throw;
        }
    }

    /// <summary>How far the pool's teachers agree on the test split, from its test cache (<see cref="PoolAgreement"/>; a sample is one image).</summary>
    public static PoolAgreementResult Agreement(string poolDir, ImageDataset data)
    {
        const int rowsPerRead = 256;
        using var cache = Open(poolDir, "test", data);
        var h = cache.Header;
        var labels = data.Test.Labels;
        if (h.Rows != labels.Length) throw new MtkdInputException($"{cache.Path}: {h.Rows} rows, the test split has {labels.Length}");
        var agreement = new PoolAgreement(h.K, h.Classes);
        var zt = new float[h.K * rowsPerRead * h.Classes];
        var ft = new float[rowsPerRead * h.F];
        for (int first = 0; first < labels.Length; first += rowsPerRead)
        {
            int b = Math.Min(rowsPerRead, labels.Length - first);
            var logits = zt.AsSpan(0, h.K * b * h.Classes);
            cache.Gather([.. Enumerable.Range(first, b)], logits, ft.AsSpan(0, b * h.F));
            agreement.Add(logits, labels.AsSpan(first, b), 1);
        }
        return agreement.Result([.. h.Teachers.Select(t => t.Name)]);
    }

    private static string Short(string fingerprint) => fingerprint.Length > 12 ? fingerprint[..12] : fingerprint;
}
