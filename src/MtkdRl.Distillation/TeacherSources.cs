using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Datasets;
using MtkdRl.Onnx;
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
/// The pool's trained teachers loaded from their checkpoints, and its ONNX teachers opened in ONNX Runtime, run in
/// eval mode on every batch, so they see the same augmented images as the student. Costs a forward pass of every
/// teacher per batch; imported teachers without a network (NPY outputs only) cannot take part.
/// </summary>
public sealed class LiveTeachers : ITeacherSource
{
    private readonly ILiveTeacher[] _teachers;

    public LiveTeachers(string poolDir, ImageDataset data, ChannelNormalization normalization, CpuCompute compute)
    {
        var manifest = PoolManifest.Read(poolDir);
        TeacherPool.CheckDataset(poolDir, manifest, data);
        if (manifest.Teachers.Count == 0) throw new MtkdInputException($"{PoolManifest.PathIn(poolDir)}: the pool has no teachers yet");
        var imported = manifest.Teachers.FirstOrDefault(t => t.Kind != TeacherKind.Trained && t.Onnx is null);
        if (imported is not null)
            throw new MtkdInputException($"{PoolManifest.PathIn(poolDir)}: teacher '{imported.Name}' is imported (outputs only), so it cannot run live; distil from the cache instead");
        var teachers = new List<ILiveTeacher>();
        try
        {
            foreach (var t in manifest.Teachers)
            {
                if (t.Onnx is not null)
                {
                    var sample = new SampleShape(data.Channels, data.Height, data.Width);
                    teachers.Add(new OnnxTeacher(new OnnxLiveTeacher(poolDir, t, sample, manifest.Classes, normalization, compute.Threads)));
                    continue;
                }
                var loaded = Checkpoint.Load(System.IO.Path.Combine(poolDir, t.Checkpoint!), compute);
                Evaluator.CheckFits(data.Train, loaded.Model, t.Name);
                if (!loaded.Normalization.Mean.SequenceEqual(normalization.Mean) || !loaded.Normalization.Std.SequenceEqual(normalization.Std))
                    throw new MtkdInputException($"{loaded.ConfigPath}: teacher '{t.Name}' was trained with another input normalisation than this dataset's");
                teachers.Add(new ModelTeacher(loaded.Model));
            }
        }
        catch
        {
            foreach (var t in teachers) t.Dispose();
            throw;
        }
        _teachers = [.. teachers];
        Widths = [.. _teachers.Select(m => m.EmbeddingWidth)];
        Classes = manifest.Classes;
        PoolFingerprint = MtkdRl.Teachers.PoolFingerprint.Compute(poolDir, manifest).Pool;
    }

    public int K => _teachers.Length;
    public int Classes { get; }
    public IReadOnlyList<int> Widths { get; }
    public string PoolFingerprint { get; }

    public void Fill(ReadOnlySpan<int> rows, ReadOnlySpan<float> images, int n, Span<float> zt, Span<float> ft)
    {
        int c = Classes, f = Widths.Sum(), offset = 0;
        for (int t = 0; t < _teachers.Length; t++)
        {
            var teacher = _teachers[t];
            teacher.Forward(images, n);
            teacher.Logits.CopyTo(zt.Slice(t * n * c, n * c));
            int d = Widths[t];
            var embedding = teacher.Embedding;
            for (int r = 0; r < n; r++) embedding.Slice(r * d, d).CopyTo(ft.Slice(r * f + offset, d));
            offset += d;
        }
    }

    public void Dispose()
    {
        foreach (var t in _teachers) t.Dispose();
    }

    /// <summary>One live teacher: a forward pass in eval mode, then its logits [n, C] and embedding [n, D].</summary>
    private interface ILiveTeacher : IDisposable
    {
        int EmbeddingWidth { get; }
        ReadOnlySpan<float> Logits { get; }
        ReadOnlySpan<float> Embedding { get; }
        void Forward(ReadOnlySpan<float> images, int n);
    }

    private sealed class ModelTeacher(Model model) : ILiveTeacher
    {
        public int EmbeddingWidth => model.EmbeddingWidth;
        public ReadOnlySpan<float> Logits => model.Logits;
        public ReadOnlySpan<float> Embedding => model.Embedding;
        public void Forward(ReadOnlySpan<float> images, int n) => model.Forward(images, n, training: false);
        public void Dispose() { }
    }

    private sealed class OnnxTeacher(OnnxLiveTeacher onnx) : ILiveTeacher
    {
        public int EmbeddingWidth => onnx.EmbeddingWidth;
        public ReadOnlySpan<float> Logits => onnx.Logits;
        public ReadOnlySpan<float> Embedding => onnx.Embedding;
        public void Forward(ReadOnlySpan<float> images, int n) => onnx.Forward(images, n);
        public void Dispose() => onnx.Dispose();
    }
}
