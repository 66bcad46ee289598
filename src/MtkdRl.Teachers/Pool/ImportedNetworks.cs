using MtkdRl.Core;

namespace MtkdRl.Teachers;

/// <summary>
/// A teacher that runs elsewhere (an ONNX model) added to a pool of a dense task (segmentation, detection): it has no
/// stored outputs; `teachers cache` and live runs run the network, which is copied into the pool.
/// </summary>
public static class ImportedNetworks
{
    /// <summary>
    /// Adds <paramref name="name"/> to the pool with the pool locked: <paramref name="openOrCreate"/> gives the pool's
    /// manifest (checked against the data), <paramref name="run"/> checks the network against the data and scores it,
    /// returning the network to copy into the pool, its test score (mIoU, AP) and its embedding width D.
    /// </summary>
    public static PoolTeacher Add(string poolDir, string name, Func<PoolManifest> openOrCreate,
        Func<(TeacherPool.ImportedNetwork Network, double TestScore, int EmbeddingWidth)> run, bool flipTest = false)
    {
        TeacherPool.CheckName(name);
        if (File.Exists(poolDir)) throw new MtkdInputException($"--pool {poolDir}: is a file, not a folder");
        using var poolLock = FolderLock.Acquire(poolDir);
        var manifest = openOrCreate();
        if (manifest.Teachers.Any(t => t.Name == name && t.Kind == TeacherKind.Trained))
            throw new MtkdInputException($"{PoolManifest.PathIn(poolDir)}: '{name}' is already a trained teacher of this pool; choose another --name");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (network, score, width) = run();
        AtomicFile.WriteAllBytes(Path.Combine(poolDir, network.Entry.File), File.ReadAllBytes(network.Source));
        var entry = new PoolTeacher(name, network.Spec, TeacherKind.Imported, null, null, score, width, 0, Math.Round(clock.Elapsed.TotalSeconds, 2), network.Entry,
            flipTest);
        manifest.With(entry).Write(poolDir);
        return entry;
    }

    /// <summary>A one-line error when a recipe names one of the pool's imported teachers: training would replace its entry and leave its model behind.</summary>
    public static void RefuseTrainingOver(string poolDir, PoolManifest manifest, IEnumerable<string> recipeNames)
    {
        var names = recipeNames.ToHashSet();
        var imported = manifest.Teachers.FirstOrDefault(t => t.Kind == TeacherKind.Imported && names.Contains(t.Name));
        if (imported is not null)
            throw new MtkdInputException($"{PoolManifest.PathIn(poolDir)}: '{imported.Name}' is an imported teacher; a recipe cannot train over it");
    }
}
