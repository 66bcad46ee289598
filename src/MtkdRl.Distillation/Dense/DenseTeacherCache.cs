using System.Diagnostics;
using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Teachers;

namespace MtkdRl.Distillation;

/// <summary>
/// The teacher cache of a dense pool: per training image, every teacher's class-logit rows on the student's output
/// grid (pixels for segmentation, locations read as <see cref="LocationResampling"/> does for detection) and its
/// image embedding, in a <see cref="TeacherCacheFile"/> (float16 by default, compressed losslessly record by record,
/// memory-mapped, checksummed) whose
/// sample is an image: its K x (rows x columns) logits, then its F embedding values. The file is
/// POOL/cache-train-WxH.mtkc for the grid's W x H rows; the header records the task, the grid, the scenes' and the
/// pool's fingerprints. Only the training split is cached: a dense run uses its teachers on training images only,
/// and never augments them (no flips, no crops), so a cached image is exactly what a live teacher would see.
/// </summary>
public static class DenseTeacherCache
{
    public const string Split = "train";
    private const int BuildImages = 32;
    /// <summary>The name the build's progress reports the compression of the records under, after the teachers.</summary>
    public const string CompressStep = "(compressing)";

    public static string PathOf(string poolDir, DenseCacheGrid grid) => Path.Combine(poolDir, $"cache-{Split}-{grid.Width}x{grid.Height}.mtkc");

    /// <summary>
    /// Runs every teacher of the task's pool once over the training images in order (eval mode), on the grid of
    /// the task's student (made before), and writes the cache; <paramref name="progress"/> hears (teacher, images done, images).
    /// The records are compressed losslessly (<see cref="DenseRecordCodec"/>) unless <paramref name="compress"/> is false.
    /// </summary>
    public static CacheBuildResult Build(DenseTask task, bool half, Action<string, int, int>? progress = null, bool compress = true)
    {
        var clock = Stopwatch.StartNew();
        var pool = task.Pool;
        var grid = task.StudentGrid;
        using var poolLock = FolderLock.Acquire(pool.Dir);
        int n = task.TrainCount, perImage = grid.RowsPerImage * grid.Columns;
        var header = new TeacherCacheHeader(compress ? TeacherCacheHeader.CompressedFormat : TeacherCacheHeader.CurrentFormat,
            half ? CacheDType.F16 : CacheDType.F32, Split, n, perImage,
            task.Source, task.DataFingerprint, pool.Fingerprint, pool.Teachers, "", task.Kind.Name(), grid, compress ? DenseRecordCodec.Name : null);
        string path = PathOf(pool.Dir, grid);
        using (var writer = new TeacherCacheFile.Writer(path, header))
        {
            var rows = new float[BuildImages * perImage];
            for (int t = 0; t < pool.Teachers.Count; t++)
            {
                int d = task.TeacherWidths[t];
                progress?.Invoke(pool.Teachers[t].Name, 0, n);
                for (int first = 0; first < n; first += BuildImages)
                {
                    int images = Math.Min(BuildImages, n - first);
                    var batch = task.NewBatch(images);
                    task.Fill([.. Enumerable.Range(first, images)], batch);
                    var embedding = task.RunTeacher(t, batch, rows.AsSpan(0, images * perImage));
                    writer.Write(t, first, rows.AsSpan(0, images * perImage), embedding[..(images * d)]);
                    progress?.Invoke(pool.Teachers[t].Name, first + images, n);
                }
            }
            header = writer.Commit(compress ? (done, total) => progress?.Invoke(CompressStep, done, total) : null);
        }
        return new CacheBuildResult(Split, path, n, header.K, header.F, header.DType, new FileInfo(path).Length, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// The cache of the task's pool for its student's grid, checksum verified; null when the pool has none for that
    /// grid. A file made for another task or grid, or from other scenes or another pool, is refused in one line.
    /// </summary>
    public static TeacherCacheFile? TryOpen(DenseTask task)
    {
        var grid = task.StudentGrid;
        string path = PathOf(task.Pool.Dir, grid);
        if (!File.Exists(path)) return null;
        var cache = TeacherCacheFile.Open(path);
        try
        {
            var h = cache.Header;
            string needed = task.Kind.Name();
            if (h.Task != needed)
                throw new MtkdInputException($"{path}: made for {h.Task ?? "classification"}, but this needs {needed}");
            if (h.Grid != grid || h.Split != Split || h.Rows != task.TrainCount)
                throw new MtkdInputException($"{path}: holds {h.Rows} {h.Split} images on grid {h.Grid}, the run needs {task.TrainCount} {Split} images on grid {grid}; rebuild it with `mtkd teachers cache`");
            if (h.DatasetFingerprint != task.DataFingerprint || h.PoolFingerprint != task.Pool.Fingerprint)
                throw new MtkdInputException($"{path}: stale: built for other scenes or another state of the pool; rebuild it with `mtkd teachers cache` or delete it");
            if (!h.Teachers.Select(t => t.EmbeddingWidth).SequenceEqual(task.TeacherWidths))
                throw new MtkdInputException($"{path}: its teachers' embedding widths differ from the pool's; rebuild it with `mtkd teachers cache`");
            return cache;
        }
        catch
        {
            cache.Dispose();
            throw;
        }
    }
}
