using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Teachers;

namespace MtkdRl.Distillation;

/// <summary>
/// A dense task's teacher pool as a run needs it: its folder, its fingerprint, its teachers' names and the path of
/// each one's network (a checkpoint, or the ONNX model of an imported segmentation teacher), and their pool entries.
/// </summary>
public sealed record DensePool(string Dir, string Fingerprint, IReadOnlyList<CachedTeacher> Teachers, IReadOnlyList<PoolTeacher> Entries)
{
    public IReadOnlyList<string> TeacherNames => [.. Teachers.Select(t => t.Name)];

    public IReadOnlyList<string> TeacherPaths { get; } = [.. Entries.Select(t => Path.Combine(Dir, t.Checkpoint ?? t.Onnx?.File
        ?? throw new MtkdInputException($"{PoolManifest.PathIn(Dir)}: teacher '{t.Name}' has no network to run (an import of stored outputs)")))];

    /// <summary>
    /// Each teacher's network in pool order: an imported ONNX teacher's through <paramref name="onnx"/>, a trained one's
    /// through <paramref name="trained"/> (its checkpoint path). If one fails to open, those already open are closed.
    /// </summary>
    public List<T> OpenNetworks<T>(Func<PoolTeacher, T> onnx, Func<string, T> trained)
    {
        var networks = new List<T>();
        try
        {
            for (int t = 0; t < Entries.Count; t++)
                networks.Add(Entries[t] is { Kind: TeacherKind.Imported, Onnx: not null } imported ? onnx(imported) : trained(TeacherPaths[t]));
        }
        catch
        {
            foreach (var opened in networks) (opened as IDisposable)?.Dispose();
            throw;
        }
        return networks;
    }

    /// <summary>The pool of <paramref name="task"/> in <paramref name="poolDir"/>, made for the scenes of <paramref name="dataFingerprint"/>, or a one-line error.</summary>
    public static DensePool Open(string poolDir, TaskKind task, string dataFingerprint, string source)
    {
        var manifest = PoolManifest.Read(poolDir, task);
        if (manifest.Teachers.Count == 0) throw new MtkdInputException($"{PoolManifest.PathIn(poolDir)}: the pool has no teachers yet");
        if (manifest.Dataset.Fingerprint != dataFingerprint)
            throw new MtkdInputException($"{PoolManifest.PathIn(poolDir)}: the pool belongs to {manifest.Dataset.Name}, not to the scenes in {source}");
        var (pool, sources) = PoolFingerprint.Compute(poolDir, manifest);
        return new DensePool(poolDir, pool, [.. manifest.Teachers.Select((t, i) => new CachedTeacher(t.Name, t.Spec, t.EmbeddingWidth, sources[i]))],
            manifest.Teachers);
    }
}
