using MtkdRl.Core;
using MtkdRl.Teachers;
using MtkdRl.Tests.Data;

namespace MtkdRl.Tests.Teachers;

/// <summary>`teachers remove` below the CLI: what leaves the pool folder, what stays, and what is refused.</summary>
public class PoolRemovalTests
{
    private static PoolTeacher Trained(string name) =>
        new(name, "mlp:8", TeacherKind.Trained, $"{name}.json", null, 0.5, 8, 100, 1.0);

    private static PoolTeacher ImportedNpy(string name) =>
        new(name, "imported", TeacherKind.Imported, null,
            new ImportedOutputs($"{name}.train-logits.npy", $"{name}.train-embeddings.npy", $"{name}.test-logits.npy", null), 0.4, 4, 0, 0);

    private static PoolTeacher ImportedOnnx(string name) =>
        new(name, "onnx", TeacherKind.Imported, null, null, 0.6, 16, 0, 2.0,
            new OnnxTeacherFile($"{name}.onnx", "x", "logits", "embedding", [0f], [1f]));

    private const string Recipe = """
        { "seed": 3, "teachers": [
          { "name": "a", "spec": "mlp:8", "epochs": 1 },
          { "name": "z", "spec": "mlp:4", "epochs": 2 } ] }
        """;

    /// <summary>A pool of trained 'a', NPY-imported 'b' and ONNX-imported 'c', every file they name, two caches, its recipe and a file of the user's.</summary>
    private static string MakePool(TempFolder temp)
    {
        string pool = temp.Sub("pool");
        var teachers = new[] { Trained("a"), ImportedNpy("b"), ImportedOnnx("c") };
        new PoolManifest { Dataset = new("d", "f"), Classes = 3, InputShape = [1, 8, 8], TrainRows = 4, TestRows = 2, Teachers = teachers }.Write(pool);
        foreach (var f in teachers.SelectMany(PoolManifest.TeacherFiles).Append("a.metrics.jsonl").Append("cache-train.mtkc").Append("cache-test.mtkc").Append("notes.txt"))
            File.WriteAllText(Path.Combine(pool, f), f);
        File.WriteAllText(Path.Combine(pool, PoolRecipe.FileName), Recipe);
        return pool;
    }

    private static string[] FilesIn(string pool) => Directory.GetFiles(pool).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public void A_trained_teacher_leaves_with_its_checkpoint_metrics_recipe_entry_and_the_caches()
    {
        using var temp = new TempFolder();
        string pool = MakePool(temp);
        var removed = PoolRemoval.Remove(pool, "a");

        Assert.Equal("a", removed.Entry.Name);
        Assert.Equal(["a.json", "a.safetensors", "a.metrics.jsonl"], removed.Files);
        Assert.Equal(["cache-test.mtkc", "cache-train.mtkc"], removed.Caches);
        Assert.True(removed.RecipeChanged);
        Assert.Equal(["b", "c"], PoolManifest.Read(pool, expected: null).Teachers.Select(t => t.Name));
        var recipe = PoolRecipe.Read(Path.Combine(pool, PoolRecipe.FileName));
        Assert.Equal(["z"], recipe.Teachers.Select(t => t.Name));
        Assert.Equal(3UL, recipe.Seed);
        Assert.Equal(["b.test-logits.npy", "b.train-embeddings.npy", "b.train-logits.npy", "c.onnx", "notes.txt", "pool.json", "recipe.json"],
            FilesIn(pool).Where(f => !f.StartsWith('.')));
    }

    [Fact]
    public void An_imported_teacher_leaves_with_its_outputs_and_the_recipe_stays_as_it_was()
    {
        using var temp = new TempFolder();
        string pool = MakePool(temp);
        string recipeBefore = File.ReadAllText(Path.Combine(pool, PoolRecipe.FileName));
        var removed = PoolRemoval.Remove(pool, "b");
        Assert.Equal(["b.train-logits.npy", "b.train-embeddings.npy", "b.test-logits.npy"], removed.Files);
        Assert.False(removed.RecipeChanged);
        Assert.Equal(recipeBefore, File.ReadAllText(Path.Combine(pool, PoolRecipe.FileName)));
        removed = PoolRemoval.Remove(pool, "c");
        Assert.Equal(["c.onnx"], removed.Files);
        Assert.Empty(removed.Caches);
        Assert.Equal(["a"], PoolManifest.Read(pool, expected: null).Teachers.Select(t => t.Name));
        Assert.True(File.Exists(Path.Combine(pool, "a.safetensors")));
    }

    [Fact]
    public void A_file_another_teacher_still_names_is_kept_and_a_recipe_left_empty_goes()
    {
        using var temp = new TempFolder();
        string pool = temp.Sub("pool");
        var shared = ImportedOnnx("c") with { Name = "c2" };
        new PoolManifest { Dataset = new("d", "f"), Classes = 3, InputShape = [1, 8, 8], TrainRows = 4, TestRows = 2, Teachers = [ImportedOnnx("c"), shared, Trained("a")] }.Write(pool);
        foreach (var f in new[] { "c.onnx", "a.json", "a.safetensors" }) File.WriteAllText(Path.Combine(pool, f), f);
        File.WriteAllText(Path.Combine(pool, PoolRecipe.FileName), """{ "teachers": [ { "name": "a", "spec": "mlp:8", "epochs": 1 } ] }""");
        Assert.Empty(PoolRemoval.Remove(pool, "c").Files);
        Assert.True(File.Exists(Path.Combine(pool, "c.onnx")));
        Assert.True(PoolRemoval.Remove(pool, "a").RecipeChanged);
        Assert.False(File.Exists(Path.Combine(pool, PoolRecipe.FileName)));
        Assert.Equal(["c2"], PoolManifest.Read(pool, expected: null).Teachers.Select(t => t.Name));
    }

    [Fact]
    public void An_unknown_name_the_only_teacher_and_a_missing_pool_are_refused_and_change_nothing()
    {
        using var temp = new TempFolder();
        string pool = MakePool(temp);
        string manifest = File.ReadAllText(PoolManifest.PathIn(pool));
        var files = FilesIn(pool);
        var e = Assert.Throws<MtkdInputException>(() => PoolRemoval.Remove(pool, "nobody"));
        Assert.Equal($"{PoolManifest.PathIn(pool)}: no teacher 'nobody' (the pool has a, b, c)", e.Message);
        Assert.Equal(manifest, File.ReadAllText(PoolManifest.PathIn(pool)));
        Assert.Equal(files, FilesIn(pool));

        PoolRemoval.Remove(pool, "b");
        PoolRemoval.Remove(pool, "c");
        e = Assert.Throws<MtkdInputException>(() => PoolRemoval.Remove(pool, "a"));
        Assert.Contains("'a' is the pool's only teacher", e.Message);
        Assert.True(File.Exists(Path.Combine(pool, "a.safetensors")));

        string none = temp.Sub("none");
        e = Assert.Throws<MtkdInputException>(() => PoolRemoval.Remove(none, "a"));
        Assert.Equal($"{PoolManifest.PathIn(none)}: no such file (make a pool with `mtkd teachers train --pool {none}`)", e.Message);
        Assert.Empty(Directory.GetFiles(none));
    }
}
