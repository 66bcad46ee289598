using System.Text.Json;
using MtkdRl.Cli;
using MtkdRl.Teachers;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Teachers;
using MtkdRl.Tests.Training;
using static MtkdRl.Tests.Cli.CliRun;

namespace MtkdRl.Tests.Cli;

/// <summary>`mtkd distill`, `compare`, `demo` and `bench epoch` on the tiny dataset: the happy paths and one line per kind of bad input.</summary>
[Collection("console")]
public class DistillCliTests(TinyPoolFixture fixture) : IClassFixture<TinyPoolFixture>
{
    private static readonly string[] Student = ["--student", "mlp:16", "--optimizer", "adam", "--lr", "0.003", "--batch", "50"];

    private string CachedPool() => fixture.CachedPool();

    [Fact]
    public void Distill_writes_a_run_and_resume_with_other_settings_is_refused()
    {
        string pool = CachedPool(), outDir = fixture.Folder.Sub("distill-" + Guid.NewGuid().ToString("N")[..6]);
        var run = Run(["distill", "--data", fixture.DataDir, "--pool", pool, "--strategy", "ca-mkd", "--epochs", "2", "--out", outDir, .. Student]);
        AssertOk(run);
        foreach (string f in new[] { "student.json", "student.safetensors", "state.json", "state.safetensors", "metrics.jsonl", "summary.json" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        Assert.Equal(2, File.ReadAllLines(Path.Combine(outDir, "metrics.jsonl")).Length);
        AssertOk(Run("eval", "--data", fixture.DataDir, "--model", Path.Combine(outDir, "student.json")));
        AssertOneLineError(Run(["distill", "--data", fixture.DataDir, "--pool", pool, "--strategy", "aver", "--epochs", "2", "--out", outDir, "--resume", .. Student]),
            "another configuration");
        AssertOneLineError(Run(["distill", "--data", fixture.DataDir, "--pool", pool, "--strategy", "ca-mkd", "--epochs", "2", "--out", outDir, .. Student]),
            "--resume");
    }

    [Fact]
    public void Compare_writes_the_table_csv_json_and_plots()
    {
        string pool = CachedPool(), outDir = fixture.Folder.Sub("compare-" + Guid.NewGuid().ToString("N")[..6]);
        var run = Run(["compare", "--data", fixture.DataDir, "--pool", pool, "--strategies", "none,aver,mtkd-rl-paper", "--seeds", "2", "--epochs", "2", "--out", outDir,
            "--baseline", "none", "--unit-rows", "--dynamic", "--reward", "probe", "--ce-weight", "0.9", "--kd-weight", "0.5", .. Student]);
        AssertOk(run);
        // The strategy-specific options reach the strategies they belong to and no other.
        foreach (var (strategy, applies) in new[] { ("aver", false), ("mtkd-rl-paper", true) })
        {
            using var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "runs", $"{strategy}-seed1", "state.json")));
            var recipe = state.RootElement.GetProperty("recipe");
            Assert.Equal(applies, recipe.GetProperty("unit_rows").GetBoolean());
            Assert.Equal(applies, recipe.GetProperty("dynamic").GetBoolean());
            Assert.Equal("teacher", recipe.GetProperty("reward").GetString());
            // The loss weights belong to every strategy.
            Assert.Equal(0.9, recipe.GetProperty("ce_weight").GetDouble(), 6);
            Assert.Equal(0.5, recipe.GetProperty("kd_weight").GetDouble(), 6);
        }
        Assert.Contains("mtkd-rl-paper", run.Out);
        string md = File.ReadAllText(Path.Combine(outDir, "comparison.md"));
        Assert.Contains("| aver | 2 |", md);
        Assert.Contains("| vs none | Welch p | paired p |", md);
        Assert.Matches(@"\| none \| 2 \| [0-9.]+ ± [0-9.]+ % \| — \| — \| — \|", md);
        foreach (string f in new[] { "comparison.csv", "comparison.json", "accuracy.png", "weights-mtkd-rl-paper.png", "reward.png" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        Assert.Equal(6, Directory.GetDirectories(Path.Combine(outDir, "runs")).Length);
    }

    [Fact]
    public void Compare_refuses_a_baseline_it_does_not_run_in_one_line()
    {
        string outDir = fixture.Folder.Sub("baseline-" + Guid.NewGuid().ToString("N")[..6]);
        AssertOneLineError(Run(["compare", "--data", fixture.DataDir, "--pool", CachedPool(), "--strategies", "none,aver", "--baseline", "ebkd", "--seeds", "1",
            "--epochs", "1", "--out", outDir, .. Student]), "--baseline 'ebkd': not among --strategies (none, aver)");
        Assert.False(Directory.Exists(Path.Combine(outDir, "runs")));
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void Compare_with_parallel_jobs_gives_the_same_runs_as_one_job()
    {
        string pool = CachedPool();
        string one = fixture.Folder.Sub("jobs1-" + Guid.NewGuid().ToString("N")[..6]), two = fixture.Folder.Sub("jobs2-" + Guid.NewGuid().ToString("N")[..6]);
        string[] common = ["compare", "--data", fixture.DataDir, "--pool", pool, "--strategies", "none,aver,mtkd-rl-ppo", "--seeds", "2", "--epochs", "2", "--threads", "1"];
        AssertOk(Run([.. common, "--out", one, .. Student]));
        AssertOk(Run([.. common, "--out", two, "--jobs", "3", .. Student]));
        var runs = Directory.GetDirectories(Path.Combine(one, "runs")).Select(Path.GetFileName).Order().ToList();
        Assert.Equal(6, runs.Count);
        Assert.Equal(runs, Directory.GetDirectories(Path.Combine(two, "runs")).Select(Path.GetFileName).Order().ToList());
        foreach (string run in runs!)
        {
            static IEnumerable<string> Numbers(string dir) => File.ReadAllLines(Path.Combine(dir, "metrics.jsonl")).Select(line =>
            {
                using var doc = JsonDocument.Parse(line);
                var e = doc.RootElement;
                return $"{e.GetProperty("loss").GetDouble():R} {e.GetProperty("test_acc").GetDouble():R} {e.GetProperty("mean_wl")}";
            }).ToList();
            Assert.Equal(Numbers(Path.Combine(one, "runs", run!)), Numbers(Path.Combine(two, "runs", run!)));
        }
        AssertOneLineError(Run([.. common, "--out", two, "--jobs", "0", .. Student]), "--jobs must be at least 1");
    }

    [Theory]
    [InlineData("best-guess", "unknown strategy 'best-guess'")]
    [InlineData("fixed", "strategy fixed: weights are missing")]
    [InlineData("aver --unit-rows", "--unit-rows applies to ebkd and mtkd-rl-paper only")]
    [InlineData("ca-mkd --dynamic", "--dynamic applies to mtkd-rl-paper only")]
    [InlineData("aver --back-off", "--back-off applies to mtkd-rl-ppo and mtkd-rl-paper only")]
    [InlineData("mtkd-rl-ppo --back-off --no-back-off", "--back-off and --no-back-off contradict each other")]
    [InlineData("mtkd-rl-paper --unit-rows --reference-rows", "--unit-rows and --reference-rows contradict each other")]
    [InlineData("ca-mkd --per-pixel-weights", "--per-pixel-weights applies to scenes (segmentation, detection) only")]
    [InlineData("aver --channel-kd 1", "--channel-kd applies to scenes (segmentation, detection) only")]
    [InlineData("aver --channel-kd -1", "--channel-kd must be a finite weight >= 0 (got -1)")]
    [InlineData("aver --channel-kd 1 --channel-temperature 0", "--channel-temperature must be positive and finite (got 0)")]
    public void Bad_strategies_are_one_line_errors(string strategyAndFlags, string expected)
    {
        string pool = CachedPool();
        AssertOneLineError(Run(["distill", "--data", fixture.DataDir, "--pool", pool, "--strategy", .. strategyAndFlags.Split(' '), "--epochs", "1",
            "--out", fixture.Folder.Sub("bad-" + Guid.NewGuid().ToString("N")[..6]), .. Student]), expected);
    }

    [Fact]
    public void A_pool_without_its_cache_and_an_unknown_student_spec_are_one_line_errors()
    {
        using var temp = new TempFolder();
        string pool = temp.Sub("uncached");
        TeacherPool.Train(pool, fixture.Data, PoolPresets.Get("quick", fixture.Data, 1, epochs: 1).Take(1).ToList(), TrainingTestCompute.Shared);
        AssertOneLineError(Run(["distill", "--data", fixture.DataDir, "--pool", pool, "--strategy", "aver", "--epochs", "1", "--out", temp.Sub("run"), .. Student]),
            "teachers cache");
        AssertOneLineError(Run("distill", "--data", fixture.DataDir, "--pool", CachedPool(), "--student", "transformer:12", "--out", temp.Sub("run2")),
            "transformer");
    }

    [Fact]
    public void Bench_epoch_times_each_pool_size()
    {
        using var temp = new TempFolder();
        string json = temp.File("epoch.json");
        AssertOk(Run("bench", "epoch", "--data", fixture.DataDir, "--teachers", "1,3", "--strategy", "aver,ca-mkd", "--rounds", "2",
            "--epochs", "1", "--width", "8", "--model", "mlp:8", "--json", json));
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal([1, 1, 3, 3], doc.RootElement.EnumerateArray().Select(e => e.GetProperty("k").GetInt32()));
        Assert.Equal(["aver", "ca-mkd", "aver", "ca-mkd"], doc.RootElement.EnumerateArray().Select(e => e.GetProperty("strategy").GetString()));
        Assert.All(doc.RootElement.EnumerateArray(), e => Assert.Equal(2, e.GetProperty("epochs").GetInt32()));
        Assert.All(doc.RootElement.EnumerateArray(), e => Assert.True(e.GetProperty("epoch_seconds").GetDouble() > 0));
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            double ratio = e.GetProperty("paired_ratio").GetDouble(), low = e.GetProperty("paired_ratio_low").GetDouble(), high = e.GetProperty("paired_ratio_high").GetDouble();
            if (e.GetProperty("strategy").GetString() == "aver") Assert.Equal([1.0, 1.0, 1.0], [ratio, low, high]);
            else Assert.True(low > 0 && low <= ratio && ratio <= high, $"paired ratio {ratio} outside [{low}, {high}]");
        }
    }

    [Fact]
    public void Median_takes_the_middle_or_the_mean_of_the_two_middle_values()
    {
        Assert.Equal(2.0, MtkdRl.Distillation.EpochBenchmark.Median([3.0, 1.0, 2.0]));
        Assert.Equal(2.5, MtkdRl.Distillation.EpochBenchmark.Median([4.0, 1.0, 3.0, 2.0]));
        Assert.Throws<ArgumentException>(() => MtkdRl.Distillation.EpochBenchmark.Median([]));
    }

    [Fact]
    public void Demo_reading_states_the_teacher_gap_the_row_size_and_the_seed_spread()
    {
        var rows = new[]
        {
            new MtkdRl.Reports.ComparisonRow("none", 3, 0.8508, 0.0045, 0, double.NaN, 0.2),
            new MtkdRl.Reports.ComparisonRow("aver", 3, 0.8435, 0.0035, -0.0073, 0.2, 0.4),
        };
        string text = MtkdRl.Reports.DemoReport.Reading(new MtkdRl.Reports.Comparison("aver", rows, []), 0.8675, 2000);
        Assert.Contains("scores 86.75 %, +1.7 points from the student alone", text);
        Assert.Contains("one of the 2,000 test images is 0.05 points", text);
        Assert.Contains("spread by up to 0.45 points", text);
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void Demo_runs_end_to_end_and_a_second_run_reuses_the_first()
    {
        using var temp = new TempFolder();
        string outDir = temp.Sub("demo");
        var first = Run("demo", "--data", fixture.DataDir, "--out", outDir, "--seeds", "1", "--epochs", "1", "--student", "mlp:16");
        AssertOk(first);
        Assert.Contains("training the quick teacher pool", first.Out);
        foreach (string s in new[] { "none", "aver", "ca-mkd", "mtkd-rl-paper", "mtkd-rl-ppo" }) Assert.Contains(s, first.Out);
        Assert.True(File.Exists(Path.Combine(outDir, "comparison.md")));
        string report = File.ReadAllText(Path.Combine(outDir, "comparison.md"));
        Assert.Contains("Teacher pool", report);
        Assert.Contains("Reading: the best teacher scores", report);
        Assert.Contains("points from the student alone", first.Out);
        var second = Run("demo", "--data", fixture.DataDir, "--out", outDir, "--seeds", "1", "--epochs", "1", "--student", "mlp:16");
        AssertOk(second);
        Assert.DoesNotContain("training the quick teacher pool", second.Out);
        Assert.DoesNotContain("caching", second.Out);
    }
}

/// <summary>The weak-pool line and the step floor of runs on small data, through the CLI.</summary>
[Collection("console")]
public class WeakPoolCliTests(TinyPoolFixture fixture) : IClassFixture<TinyPoolFixture>
{
    private static readonly string[] Student = ["--student", "mlp:16", "--batch", "50"];

    /// <summary>A pool of two imported teachers whose logits are noise: about 10 % on the train split.</summary>
    private string UselessPool(TempFolder temp)
    {
        string pool = temp.Sub("useless");
        var rng = new MtkdRl.Core.Rng(5);
        string Npy(string name, int rows, int cols)
        {
            string path = temp.File($"{name}.npy");
            MtkdRl.Data.Formats.NpyFile.Write(path, Enumerable.Range(0, rows * cols).Select(_ => (float)rng.NextGaussian()).ToArray(), rows, cols);
            return path;
        }
        var n = fixture.Data;
        foreach (string name in new[] { "noise-a", "noise-b" })
            AssertOk(Run("teachers", "import", "--pool", pool, "--name", name, "--data", fixture.DataDir,
                "--train-logits", Npy(name + "-tl", n.Train.Count, 10), "--train-embeddings", Npy(name + "-te", n.Train.Count, 4),
                "--test-logits", Npy(name + "-sl", n.Test.Count, 10), "--test-embeddings", Npy(name + "-se", n.Test.Count, 4)));
        AssertOk(Run("teachers", "cache", "--pool", pool, "--data", fixture.DataDir));
        return pool;
    }

    [Fact]
    public void Distill_and_compare_say_in_one_line_that_a_pool_of_noise_is_weak()
    {
        using var temp = new TempFolder();
        string pool = UselessPool(temp);
        var distill = Run(["distill", "--data", fixture.DataDir, "--pool", pool, "--strategy", "aver", "--epochs", "2", "--out", temp.Sub("d"), .. Student]);
        AssertOk(distill);
        string line = Assert.Single(distill.Out.Split('\n'), l => l.StartsWith("weak pool:"));
        Assert.Contains("on the train split", line);
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(temp.Sub("d"), "summary.json"))).RootElement;
        Assert.StartsWith("weak pool:", summary.GetProperty("warning").GetString());

        var compare = Run(["compare", "--data", fixture.DataDir, "--pool", pool, "--strategies", "none,aver", "--seeds", "1", "--epochs", "2", "--out", temp.Sub("c"), .. Student]);
        AssertOk(compare);
        Assert.Contains("weak pool: the best teacher, 'noise-", compare.Out);

        // The fixture's trained teachers are far above a 2-epoch student on the train split: no warning.
        string trained = fixture.Pool;
        if (!File.Exists(TeacherCache.PathOf(trained, "train"))) AssertOk(Run("teachers", "cache", "--pool", trained, "--data", fixture.DataDir));
        var strong = Run(["distill", "--data", fixture.DataDir, "--pool", trained, "--strategy", "aver", "--epochs", "1", "--out", temp.Sub("s"), "--student", "linear", "--batch", "50", "--lr", "0.0001"]);
        AssertOk(strong);
        Assert.DoesNotContain("weak pool", strong.Out);
    }

    [Fact]
    public void Without_epochs_a_run_on_small_data_makes_the_minimum_steps()
    {
        using var temp = new TempFolder();
        string pool = UselessPool(temp);
        // 600 rows in batches of 50: 12 steps an epoch, so 60 steps are 5 epochs, more than the 10 default only past 120.
        AssertOk(Run(["distill", "--data", fixture.DataDir, "--pool", pool, "--strategy", "none", "--min-steps", "180", "--out", temp.Sub("m"), .. Student]));
        Assert.Equal(15, File.ReadAllLines(Path.Combine(temp.Sub("m"), "metrics.jsonl")).Length);
        AssertOk(Run(["distill", "--data", fixture.DataDir, "--pool", pool, "--strategy", "none", "--min-steps", "180", "--epochs", "2", "--out", temp.Sub("e"), .. Student]));
        Assert.Equal(2, File.ReadAllLines(Path.Combine(temp.Sub("e"), "metrics.jsonl")).Length);
        AssertOneLineError(Run(["distill", "--data", fixture.DataDir, "--pool", pool, "--strategy", "none", "--min-steps", "-1", "--out", temp.Sub("x"), .. Student]),
            "--min-steps must be >= 0");
    }
}
