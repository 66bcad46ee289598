using System.Text.Json;
using MtkdRl.Core;
using MtkdRl.Data.Datasets;
using MtkdRl.Data.Formats;
using MtkdRl.Teachers;
using MtkdRl.Tests.Data;
using Xunit;
using static MtkdRl.Tests.Cli.CliRun;

namespace MtkdRl.Tests.Teachers;

/// <summary>`teachers agreement`: the figures against hand-computed cases, and from the CLI on imported teachers.</summary>
[Collection("console")]
public class PoolAgreementTests
{
    // K = 2 teachers, C = 3 classes, two samples of two rows; teacher-major logits [K, N, C].
    // row 0 (sample 0): y 1, t0 [0,3,0] -> 1 right, t1 [0,0,2] -> 2;   mix: class 1 (0.9094 + 0.1065 against 0.0453 + 0.7870)
    // row 1 (sample 0): y 2, t0 [2,0,0] -> 0,       t1 [0,0,3] -> 2 right; mix: class 2
    // row 2 (sample 1): ignored (y -1)
    // row 3 (sample 1): y 0, t0 [3,0,0] -> 0 right, t1 [0,4,0] -> 1;   mix: class 1 (0.0453 + 0.9647 against 0.9094 + 0.0177), wrong
    private static readonly float[] Logits =
    [
        0, 3, 0, 2, 0, 0, 5, 0, 0, 3, 0, 0,
        0, 0, 2, 0, 0, 3, 0, 5, 0, 0, 4, 0,
    ];

    private static readonly int[] Labels = [1, 2, -1, 0];

    [Fact]
    public void Figures_match_the_hand_computed_case()
    {
        var agreement = new PoolAgreement(2, 3);
        agreement.Add(Logits, Labels, rowsPerSample: 2);
        var r = agreement.Result(["t0", "t1"]);
        Assert.Equal(2, r.Samples);
        Assert.Equal(3, r.Rows);
        Assert.Equal([2 / 3.0, 1 / 3.0], r.Accuracy);
        Assert.Equal(1.0, r.Agreement[0, 0]);
        Assert.Equal(0.0, r.Agreement[0, 1]);
        Assert.Equal(0.0, r.Agreement[1, 0]);
        Assert.Equal(2 / 3.0, r.BestTeacher);
        Assert.Equal(2 / 3.0, r.EqualMix);      // rows 0 and 1
        Assert.Equal(2 / 3.0, r.BestPerSample); // one right row per sample: t0 or t1 in sample 0, t0 in sample 1
        Assert.Equal(1.0, r.AnyTeacher);        // every counted row has a right teacher
    }

    [Fact]
    public void An_excluded_label_leaves_its_rows_out_and_batches_add_up()
    {
        var agreement = new PoolAgreement(2, 3, excluded: 0);
        // The same rows in two batches of one sample each (a batch is [K, its rows, C]).
        for (int s = 0; s < 2; s++)
        {
            float[] part = [.. Logits.AsSpan(s * 6, 6), .. Logits.AsSpan(12 + s * 6, 6)];
            agreement.Add(part, Labels.AsSpan(s * 2, 2), rowsPerSample: 2);
        }
        var r = agreement.Result(["t0", "t1"]);
        Assert.Equal(2, r.Samples);
        Assert.Equal(2, r.Rows);
        Assert.Equal([0.5, 0.5], r.Accuracy);
        Assert.Equal(1.0, r.EqualMix);
        Assert.Equal(0.5, r.BestPerSample); // sample 1 has no counted row left
        Assert.Equal(1.0, r.AnyTeacher);
    }

    [Fact]
    public void Bad_shapes_labels_and_logits_are_refused()
    {
        var agreement = new PoolAgreement(2, 3);
        Assert.Throws<ArgumentException>(() => agreement.Add(Logits, Labels, rowsPerSample: 3));
        Assert.Throws<ArgumentException>(() => agreement.Add(Logits.AsSpan(0, 21), Labels, rowsPerSample: 2));
        Assert.Throws<MtkdInputException>(() => agreement.Add(Logits, [1, 2, -1, 3], rowsPerSample: 2));
        float[] nan = [.. Logits];
        nan[4] = float.NaN;
        Assert.Throws<MtkdInputException>(() => agreement.Add(nan, Labels, rowsPerSample: 2));
    }

    /// <summary>
    /// Three imported teachers whose test logits pick known classes: a (logit 6) the label except on every third image
    /// where it picks y + 2, b (logit 5) the label on even images and y + 1 on odd ones, c (logit 5) always class 0.
    /// The equal mix follows two teachers that agree, else a (its one stronger vote).
    /// </summary>
    [Fact]
    public void The_cli_reports_the_figures_of_imported_teachers()
    {
        using var temp = new TempFolder();
        string dataDir = TeacherTestData.WriteIdx(TeacherTestData.Tiny, temp.Root);
        var data = DatasetLocator.Load(dataDir);
        string pool = Path.Combine(temp.Root, "pool");
        int[] y = data.Test.Labels;
        int n = y.Length, c = data.ClassCount;
        Func<int, int>[] picks = [i => i % 3 == 0 ? (y[i] + 2) % c : y[i], i => i % 2 == 0 ? y[i] : (y[i] + 1) % c, _ => 0];
        float[] strength = [6, 5, 5];
        string[] names = ["a", "b", "c"];
        for (int t = 0; t < 3; t++)
        {
            var test = new float[n * c];
            for (int i = 0; i < n; i++) test[i * c + picks[t](i)] = strength[t];
            string Npy(string name, float[] values, int cols)
            {
                string path = temp.File($"{names[t]}-{name}.npy");
                NpyFile.Write(path, values, values.Length / cols, cols);
                return path;
            }
            AssertOk(Run("teachers", "import", "--pool", pool, "--data", dataDir, "--name", names[t], "--train-logits", Npy("tl", new float[data.Train.Count * c], c),
                "--train-embeddings", Npy("te", new float[data.Train.Count * 2], 2), "--test-logits", Npy("sl", test, c)));
        }
        AssertOk(Run("teachers", "cache", "--pool", pool, "--data", dataDir));
        string json = temp.File("agreement.json");
        var run = Run("teachers", "agreement", "--pool", pool, "--data", dataDir, "--json", json);
        AssertOk(run);
        Assert.Contains("the equal mix", run.Out);

        int right = 0, mixRight = 0;
        var acc = new int[3];
        var same = new int[3, 3];
        for (int i = 0; i < n; i++)
        {
            int[] p = [picks[0](i), picks[1](i), picks[2](i)];
            bool any = false;
            for (int t = 0; t < 3; t++)
            {
                if (p[t] == y[i]) { acc[t]++; any = true; }
                for (int u = 0; u < 3; u++) same[t, u] += p[t] == p[u] ? 1 : 0;
            }
            int mix = p[1] == p[2] ? p[1] : p[0];
            mixRight += mix == y[i] ? 1 : 0;
            right += any ? 1 : 0;
        }
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.Equal(n, root.GetProperty("rows").GetInt64());
        Assert.Equal(n, root.GetProperty("samples").GetInt64());
        Assert.Equal(names, root.GetProperty("teachers").EnumerateArray().Select(e => e.GetString()));
        for (int t = 0; t < 3; t++)
        {
            Assert.Equal((double)acc[t] / n, root.GetProperty("accuracy")[t].GetDouble(), 12);
            for (int u = 0; u < 3; u++) Assert.Equal((double)same[t, u] / n, root.GetProperty("agreement")[t][u].GetDouble(), 12);
        }
        Assert.Equal((double)mixRight / n, root.GetProperty("equal_mix").GetDouble(), 12);
        Assert.Equal((double)right / n, root.GetProperty("any_teacher").GetDouble(), 12);
        Assert.Equal((double)right / n, root.GetProperty("best_per_sample").GetDouble(), 12); // a sample is one image
        Assert.True(right > acc[0], $"the case should separate a teacher from any teacher: a {acc[0]}, any {right}");

        AssertOneLineError(Run("teachers", "agreement", "--pool", pool, "--data", dataDir, "--student", "unet:4x8"), "--student is for a scenes pool");
        AssertOneLineError(Run("teachers", "agreement", "--pool", pool, "--data", dataDir, "--json", Path.Combine(temp.Root, "no", "a.json")), "does not exist");
        File.Delete(TeacherCache.PathOf(pool, "test"));
        AssertOneLineError(Run("teachers", "agreement", "--pool", pool, "--data", dataDir), "cache-test.mtkc: no such file");
    }

    /// <summary>A segmentation pool: every object pixel of the training masks counted once, the figures consistent.</summary>
    [Fact]
    public void The_cli_reads_a_segmentation_pool_from_its_cache()
    {
        using var temp = new TempFolder();
        var (data, pool) = Distillation.DenseDistillRunTests.Setup(temp);
        string scenes = data.Source;
        AssertOneLineError(Run("teachers", "agreement", "--pool", pool, "--data", scenes), "no teacher cache for the student's grid");
        AssertOk(Run("teachers", "cache", "--pool", pool, "--data", scenes));
        string json = temp.File("agreement.json");
        var run = Run("teachers", "agreement", "--pool", pool, "--data", scenes, "--json", json);
        AssertOk(run);
        Assert.Contains("object pixels", run.Out);

        long objectPixels = data.Train.Masks.Count(v => v is > 0 and < 255);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.Equal(objectPixels, root.GetProperty("rows").GetInt64());
        Assert.Equal(data.Train.Count, root.GetProperty("samples").GetInt64());
        var accuracy = root.GetProperty("accuracy").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        Assert.Equal(2, accuracy.Length);
        var agreement = root.GetProperty("agreement");
        for (int j = 0; j < 2; j++)
        {
            Assert.Equal(1.0, agreement[j][j].GetDouble());
            Assert.Equal(agreement[j][1 - j].GetDouble(), agreement[1 - j][j].GetDouble());
            Assert.InRange(accuracy[j], 0.0, 1.0);
        }
        double best = root.GetProperty("best_teacher").GetDouble(), perImage = root.GetProperty("best_per_sample").GetDouble(),
            any = root.GetProperty("any_teacher").GetDouble();
        Assert.Equal(accuracy.Max(), best);
        Assert.True(best <= perImage && perImage <= any && any <= 1, $"best {best}, per image {perImage}, any {any}");
    }

    /// <summary>A detection pool: the cache on the student's grid, every location that learns an object counted once.</summary>
    [Fact]
    public void The_cli_reads_a_detection_pool_on_the_students_grid()
    {
        using var temp = new TempFolder();
        var (scenes, dir, pool) = Distillation.DetectionDistillRunTests.Setup(temp);
        string student = Distillation.DetectionDistillRunTests.Student;
        AssertOneLineError(Run("teachers", "agreement", "--pool", pool, "--data", dir), "give --student det:");
        AssertOk(Run("teachers", "cache", "--pool", pool, "--data", dir, "--student", student));
        string json = temp.File("agreement.json");
        var run = Run("teachers", "agreement", "--pool", pool, "--data", dir, "--student", student, "--json", json);
        AssertOk(run);
        Assert.Contains("object locations", run.Out);

        string cachePath = Assert.Single(Directory.GetFiles(pool, "cache-train-*.mtkc"));
        DenseCacheGridOf(cachePath, out int width, out int height, out int stride);
        long positives = 0;
        var labels = new int[width * height];
        var targets = new float[width * height * MtkdRl.Training.BoxCoding.Outputs];
        for (int i = 0; i < scenes.Train.Count; i++)
            positives += MtkdRl.Training.LocationAssignment.Targets(scenes.Train.Boxes[i], width, height, stride, labels, targets);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(positives, doc.RootElement.GetProperty("rows").GetInt64());
        Assert.Equal(scenes.Train.Count, doc.RootElement.GetProperty("samples").GetInt64());
    }

    private static void DenseCacheGridOf(string path, out int width, out int height, out int stride)
    {
        using var cache = MtkdRl.Core.Formats.TeacherCacheFile.Open(path);
        var grid = cache.Header.Grid!;
        (width, height, stride) = (grid.Width, grid.Height, grid.Stride);
    }
}
