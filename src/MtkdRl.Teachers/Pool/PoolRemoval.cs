using MtkdRl.Core;

namespace MtkdRl.Teachers;

/// <summary>What <see cref="PoolRemoval.Remove"/> did, as names in the pool folder.</summary>
/// <param name="Entry">The teacher's entry as pool.json held it.</param>
/// <param name="Files">The teacher's own files deleted: checkpoint and weights, training metrics, imported outputs or network.</param>
/// <param name="Caches">The pool's caches deleted: they were made for the teachers before, and no run could use them.</param>
/// <param name="RecipeChanged">Whether recipe.json listed the teacher (and no longer does, or is gone with it as its only entry).</param>
public sealed record RemovedTeacher(PoolTeacher Entry, IReadOnlyList<string> Files, IReadOnlyList<string> Caches, bool RecipeChanged);

/// <summary>
/// Takes one teacher out of a pool of any task (`mtkd teachers remove`): its entry in pool.json and recipe.json, the files
/// only it uses, and the pool's caches, which held its outputs. A pool keeps at least one teacher. pool.json is written
/// first (atomically), so a process stopped part way leaves stray files at worst, never an entry whose files are gone;
/// and a cache left behind by such a stop no longer matches the pool's fingerprint, which every reader checks.
/// </summary>
public static class PoolRemoval
{
    public static RemovedTeacher Remove(string poolDir, string name)
    {
        using var poolLock = FolderLock.Acquire(poolDir);
        var manifest = PoolManifest.Read(poolDir, expected: null);
        string manifestPath = PoolManifest.PathIn(poolDir);
        var entry = manifest.Teachers.FirstOrDefault(t => t.Name == name)
            ?? throw new MtkdInputException($"{manifestPath}: no teacher '{name}' (the pool has {string.Join(", ", manifest.Teachers.Select(t => t.Name))})");
        if (manifest.Teachers.Count == 1)
            throw new MtkdInputException($"{manifestPath}: '{name}' is the pool's only teacher, and a pool keeps at least one (delete the folder to drop the pool)");

        var rest = manifest with { Teachers = manifest.Teachers.Where(t => t.Name != name).ToList() };
        var stillUsed = rest.Teachers.SelectMany(PoolManifest.TeacherFiles).ToHashSet(StringComparer.Ordinal);
        var own = PoolManifest.TeacherFiles(entry)
            .Concat(entry.Kind == TeacherKind.Trained ? [Checkpoint.MetricsPathOf(entry.Checkpoint!)] : [])
            .Where(f => !stillUsed.Contains(f)).Distinct(StringComparer.Ordinal).ToList();
        var caches = Directory.EnumerateFiles(poolDir, "cache-*.mtkc").Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();

        rest.Write(poolDir);
        bool recipeChanged = RemoveFromRecipe(Path.Combine(poolDir, PoolRecipe.FileName), name);
        var deleted = own.Where(f => Delete(poolDir, f)).ToList();
        var deletedCaches = caches.Where(f => Delete(poolDir, f)).ToList();
        return new RemovedTeacher(entry, deleted, deletedCaches, recipeChanged);
    }

    /// <summary>Drops <paramref name="name"/> from the kept recipe, if it lists it; a recipe left with no teacher goes altogether.</summary>
    private static bool RemoveFromRecipe(string path, string name)
    {
        if (!File.Exists(path)) return false;
        var recipe = PoolRecipe.Read(path);
        if (!recipe.Teachers.Any(t => t.Name == name)) return false;
        var kept = recipe.Teachers.Where(t => t.Name != name).ToList();
        if (kept.Count == 0) File.Delete(path);
        else (recipe with { Teachers = kept }).Write(path);
        return true;
    }

    private static bool Delete(string poolDir, string file)
    {
        string path = Path.Combine(poolDir, file);
        if (!File.Exists(path)) return false;
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MtkdInputException($"{path}: cannot delete ({e.Message}); pool.json no longer lists the teacher, so the file can be deleted by hand");
        }
        return true;
    }
}
