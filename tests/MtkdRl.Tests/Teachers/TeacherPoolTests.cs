using System.Text.Json;
using MtkdRl.Core;
using MtkdRl.Data.Formats;
using MtkdRl.Teachers;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Training;

namespace MtkdRl.Tests.Teachers;

/// <summary>Presets, the manifest, and the checks an import makes before it touches the pool.</summary>
public class TeacherPoolTests
{
    [Theory]
    [InlineData("quick", 4, false)]
    [InlineData("default", 6, true)]
    public void Presets_are_heterogeneous_with_cnns_mlps_and_weak_teachers(string preset, int count, bool subsetTeacher)
    {
        var plans = PoolPresets.Get(preset, TeacherTestData.Tiny, seed: 1);
        Assert.Equal(count, plans.Count);
        var specs = plans.Select(p => p.Recipe.ParsedSpec()).ToList();
        Assert.Contains(specs, s => s.Family == MtkdRl.Training.ModelFamily.Cnn);
        Assert.Contains(specs, s => s.Family == MtkdRl.Training.ModelFamily.Mlp);
        Assert.Contains(specs, s => s.Family == MtkdRl.Training.ModelFamily.Linear);
        Assert.Equal(subsetTeacher, plans.Any(p => p.Recipe.SubsetSize > 0));
        var widths = specs.Select(s => s.Build(MtkdRl.Training.SampleShape.Image(1, 28, 28), 10, TrainingTestCompute.Shared, new Rng(1)).EmbeddingWidth);
        Assert.True(widths.Distinct().Count() >= 3, $"embedding widths {string.Join(",", widths)}");
        Assert.Equal(count, plans.Select(p => p.Recipe.Seed).Distinct().Count());
        Assert.All(PoolPresets.Get(preset, TeacherTestData.Tiny, 1, epochs: 1), p => Assert.Equal(1, p.Recipe.Epochs));
    }

    [Fact]
    public void An_unknown_preset_is_refused() =>
        Assert.Equal("--preset 'huge': unknown preset (known: quick, default, specialists, seg-quick, seg-default, det-quick, det-default)",
            Assert.Throws<MtkdInputException>(() => PoolPresets.Get("huge", TeacherTestData.Tiny, 1)).Message);

    [Fact]
    public void Training_writes_a_manifest_and_keeps_finished_teachers_on_a_second_run()
    {
        using var temp = new TempFolder();
        string pool = temp.Sub("pool");
        var data = TeacherTestData.Tiny;
        var plans = PoolPresets.Get("quick", data, 2, epochs: 1).Take(2).ToList();
        var first = TeacherPool.Train(pool, data, plans, TrainingTestCompute.Shared);
        Assert.All(first, r => Assert.False(r.Skipped));
        var manifest = PoolManifest.Read(pool);
        Assert.Equal(data.FingerprintHex, manifest.Dataset.Fingerprint);
        Assert.Equal((600, 200, 10), (manifest.TrainRows, manifest.TestRows, manifest.Classes));
        Assert.Equal(plans.Select(p => p.Name), manifest.Teachers.Select(t => t.Name));
        // One epoch of four batches: the recorded accuracy need only be a real score above chance (10%).
        Assert.All(manifest.Teachers, t => Assert.InRange(t.TestAccuracy, 0.15, 1.0));
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(pool, "pool.json"))))
        {
            var t = doc.RootElement.GetProperty("teachers")[0];
            Assert.Equal("trained", t.GetProperty("kind").GetString());
            Assert.Equal($"{plans[0].Name}.json", t.GetProperty("checkpoint").GetString());
            Assert.True(t.GetProperty("embedding_width").GetInt32() > 0);
        }
        var second = TeacherPool.Train(pool, data, plans, TrainingTestCompute.Shared);
        Assert.All(second, r => Assert.True(r.Skipped));
    }

    private static string Npy(TempFolder temp, string name, int rows, int cols, float value = 0.5f)
    {
        string path = temp.File(name);
        NpyFile.Write(path, Enumerable.Repeat(value, rows * cols).ToArray(), rows, cols);
        return path;
    }

    [Fact]
    public void Import_checks_shapes_against_the_pools_dataset_and_writes_nothing_when_refused()
    {
        using var temp = new TempFolder();
        string pool = temp.Sub("pool");
        var data = TeacherTestData.Tiny;
        string trainLogits = Npy(temp, "tl.npy", 600, 10), trainEmb = Npy(temp, "te.npy", 600, 7), testLogits = Npy(temp, "sl.npy", 200, 10);

        void Refused(TeacherPool.ImportFiles files, string message)
        {
            var e = Assert.Throws<MtkdInputException>(() => TeacherPool.Import(pool, "ext", files, data));
            Assert.Equal(message, e.Message);
            Assert.Empty(Directory.GetFiles(pool));
        }

        string shortRows = Npy(temp, "short.npy", 599, 10);
        Refused(new(shortRows, trainEmb, testLogits, null), $"{shortRows}: train logits have 599 rows, the pool's training split has 600");
        string wide = Npy(temp, "wide.npy", 200, 11);
        Refused(new(trainLogits, trainEmb, wide, null), $"{wide}: test logits have 11 columns, expected 10 (one per class)");
        string testEmb = Npy(temp, "se.npy", 200, 6);
        Refused(new(trainLogits, trainEmb, testLogits, testEmb), $"{testEmb}: test embeddings have 6 columns, expected 7 (the train embeddings' width)");
        string nan = Npy(temp, "nan.npy", 600, 7, float.NaN);
        Refused(new(trainLogits, nan, testLogits, null), $"{nan}: train embeddings value NaN at row 0, column 0 is not finite");
        string ints = temp.File("ints.npy");
        NpyFile.Write(ints, new int[600 * 10], 600, 10);
        Refused(new(ints, trainEmb, testLogits, null), $"{ints}: train logits must be float16, float32 or float64, found int32");

        var entry = TeacherPool.Import(pool, "ext", new(trainLogits, trainEmb, testLogits, null), data);
        Assert.Equal(7, entry.EmbeddingWidth);
        Assert.Equal(TeacherKind.Imported, PoolManifest.Read(pool).Teachers.Single().Kind);
    }

    [Fact]
    public void Import_without_a_pool_or_a_dataset_and_bad_names_are_refused()
    {
        using var temp = new TempFolder();
        string pool = temp.Sub("pool");
        var files = new TeacherPool.ImportFiles("a.npy", "b.npy", "c.npy", null);
        Assert.StartsWith($"{Path.Combine(pool, "pool.json")}: no such file",
            Assert.Throws<MtkdInputException>(() => TeacherPool.Import(pool, "ext", files)).Message);
        Assert.StartsWith("--name '../x': a teacher name needs",
            Assert.Throws<MtkdInputException>(() => TeacherPool.Import(pool, "../x", files, TeacherTestData.Tiny)).Message);
    }
}
