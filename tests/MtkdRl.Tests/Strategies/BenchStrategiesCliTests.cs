using System.Text.Json;
using MtkdRl.Cli;
using static MtkdRl.Tests.Cli.CliRun;

namespace MtkdRl.Tests.Strategies;

/// <summary>`mtkd bench strategies`: one JSON record per strategy and K, and one-line errors.</summary>
[Collection("console")]
public class BenchStrategiesCliTests
{
    [Trait("Category", "Slow")]
    [Fact]
    public void Writes_one_record_per_strategy_and_teacher_count()
    {
        string json = Path.Combine(Path.GetTempPath(), $"mtkd-bench-strategies-{Guid.NewGuid():N}.json");
        try
        {
            var (code, output, err) = Run("bench", "strategies", "--strategy", "mtkd-rl-ppo", "-k", "3,5", "--batch", "16",
                "--batches", "70", "--json", json);
            Assert.True(code == 0, err);
            Assert.Contains("µs / batch", output);
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var records = doc.RootElement.EnumerateArray().ToList();
            Assert.Equal([3, 5], records.Select(r => r.GetProperty("k").GetInt32()));
            foreach (var r in records)
            {
                Assert.Equal("mtkd-rl-ppo", r.GetProperty("strategy").GetString());
                Assert.Equal(16, r.GetProperty("b").GetInt32());
                Assert.Equal(70, r.GetProperty("batches").GetInt32());
                // The warm-up and 70 batches of 8 learning rows fill the default 512-row rollout at least once.
                Assert.True(r.GetProperty("updates").GetInt32() >= 1);
                double weights = r.GetProperty("weights_microseconds").GetDouble();
                double learn = r.GetProperty("learn_microseconds").GetDouble();
                double update = r.GetProperty("update_microseconds").GetDouble();
                Assert.True(weights > 0 && learn > 0 && update > 0 && update <= learn, $"weights {weights}, learn {learn}, update {update}");
            }
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void All_lists_every_strategy_but_none()
    {
        string json = Path.Combine(Path.GetTempPath(), $"mtkd-bench-strategies-{Guid.NewGuid():N}.json");
        try
        {
            var (code, _, err) = Run("bench", "strategies", "-k", "2", "--batch", "8", "--batches", "3", "--json", json);
            Assert.True(code == 0, err);
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var names = doc.RootElement.EnumerateArray().Select(r => r.GetProperty("strategy").GetString()).ToList();
            Assert.Equal(["aver", "fixed", "ca-mkd", "ebkd", "mtkd-rl-paper", "mtkd-rl-ppo"], names);
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Theory]
    [InlineData("bench strategies --strategy nosuch", "unknown strategy 'nosuch'")]
    [InlineData("bench strategies -k 0", "-k: teacher counts must be at least 1")]
    [InlineData("bench strategies --batches 0", "--batches must be at least 1")]
    [InlineData("bench strategies --batch 1", "--batch must be at least 2")]
    public void Bad_input_gives_one_line_and_exit_code_1(string args, string expected)
    {
        var (code, _, err) = Run(args.Split(' '));
        Assert.Equal(CliHost.UserError, code);
        Assert.Contains(expected, err);
        Assert.Single(err.TrimEnd('\n').Split('\n'));
    }
}
