using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Datasets;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>Where a batch's teacher outputs come from: the pool's cache, or the teachers themselves run on the batch.</summary>
public interface ITeacherSource : IDisposable
{
    int K { get; }
    int Classes { get; }

    /// <summary>D_k per teacher.</summary>
    IReadOnlyList<int> Widths { get; }

    /// <summary>The pool's fingerprint (a resumed run must see the same teachers).</summary>
    string PoolFingerprint { get; }

    /// <summary>
    /// Writes zt [K,n,C] and ft [n,F] for a batch of n rows: dataset rows <paramref name="rows"/> whose
    /// normalised (possibly augmented) images are <paramref name="images"/> [n,Ch,H,W].
    /// </summary>
    void Fill(ReadOnlySpan<int> rows, ReadOnlySpan<float> images, int n, Span<float> zt, Span<float> ft);
}

/// <summary>Teacher outputs read from the memory-mapped cache of the training split (outputs of the unaugmented images).</summary>
public sealed class CachedTeachers : ITeacherSource
{
    private readonly TeacherCacheFile _cache;

    public CachedTeachers(string poolDir, ImageDataset data)
    {
        _cache = TeacherCache.Open(poolDir, "train", data);
        Widths = [.. _cache.Header.Teachers.Select(t => t.EmbeddingWidth)];
    }

    public int K => _cache.Header.K;
    public int Classes => _cache.Header.Classes;
    public IReadOnlyList<int> Widths { get; }
    public string PoolFingerprint => _cache.Header.PoolFingerprint;
    public string Path => _cache.Path;

    public void Fill(ReadOnlySpan<int> rows, ReadOnlySpan<float> images, int n, Span<float> zt, Span<float> ft) =>
        _cache.Gather(rows[..n], zt, ft);

    public void Dispose() => _cache.Dispose();
}

/// <summary>
/// The pool's trained teachers loaded from their checkpoints and run in eval mode on every batch, so they see
/// the same augmented images as the student. Costs a forward pass of every teacher per batch; imported
/// teachers (outputs only, no network) cannot take part.
/// </summary>
public sealed class LiveTeachers : ITeacherSource
{
    private readonly Model[] _models;

    public LiveTeachers(string poolDir, ImageDataset data, ChannelNormalization normalization, CpuCompute compute)
    {
        var manifest = PoolManifest.Read(poolDir);
        TeacherPool.CheckDataset(poolDir, manifest, data);
        if (manifest.Teachers.Count == 0) throw new MtkdInputException($"{PoolManifest.PathIn(poolDir)}: the pool has no teachers yet");
        var imported = manifest.Teachers.FirstOrDefault(t => t.Kind != TeacherKind.Trained);
        if (imported is not null)
            throw new MtkdInputException($"{PoolManifest.PathIn(poolDir)}: teacher '{imported.Name}' is imported (outputs only), so it cannot run live; distil from the cache instead");
        var models = new List<Model>();
        foreach (var t in manifest.Teachers)
        {
            var loaded = Checkpoint.Load(System.IO.Path.Combine(poolDir, t.Checkpoint!), compute);
            Evaluator.CheckFits(data.Train, loaded.Model, t.Name);
            if (!loaded.Normalization.Mean.SequenceEqual(normalization.Mean) || !loaded.Normalization.Std.SequenceEqual(normalization.Std))
                throw new MtkdInputException($"{loaded.ConfigPath}: teacher '{t.Name}' was trained with another input normalisation than this dataset's");
            models.Add(loaded.Model);
        }
        _models = [.. models];
        Widths = [.. _models.Select(m => m.EmbeddingWidth)];
        Classes = manifest.Classes;
        PoolFingerprint = MtkdRl.Teachers.PoolFingerprint.Compute(poolDir, manifest).Pool;
    }

    public int K => _models.Length;
    public int Classes { get; }
    public IReadOnlyList<int> Widths { get; }
    public string PoolFingerprint { get; }

    public void Fill(ReadOnlySpan<int> rows, ReadOnlySpan<float> images, int n, Span<float> zt, Span<float> ft)
    {
        int c = Classes, f = Widths.Sum(), offset = 0;
        for (int t = 0; t < _models.Length; t++)
        {
            var model = _models[t];
            model.Forward(images, n, training: false);
            model.Logits.CopyTo(zt.Slice(t * n * c, n * c));
            int d = Widths[t];
            var embedding = model.Embedding;
            for (int r = 0; r < n; r++) embedding.Slice(r * d, d).CopyTo(ft.Slice(r * f + offset, d));
            offset += d;
        }
    }

    public void Dispose() { }
}
