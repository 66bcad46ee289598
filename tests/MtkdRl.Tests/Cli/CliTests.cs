using System.Text.Json;
using MtkdRl.Cli;

namespace MtkdRl.Tests.Cli;

/// <summary>The CLI's promises: one-line errors with a non-zero exit, and the bench JSON format.</summary>
[Collection("console")]
public class CliTests
{
    private static (int Code, string Err) Run(params string[] args)
    {
        var (code, _, err) = RunCapturing(args);
        return (code, err);
    }

    private static (int Code, string Out, string Err) RunCapturing(params string[] args)
    {
        var output = new StringWriter();
        var err = new StringWriter();
        int code = CliHost.Run(args, output, err);
        return (code, output.ToString(), err.ToString());
    }

    [Theory]
    [InlineData("bench kernels --shape 1,2", "--shape '1,2': expected B,K,C,D")]
    [InlineData("bench kernels --shape 4,0,10,3", "--shape '4,0,10,3': expected B,K,C,D")]
    [InlineData("bench kernels --shape 4,2,1,3", "class count C must be at least 2 (got 1)")]
    [InlineData("bench kernels --backend nosuch", "unknown backend 'nosuch'")]
    [InlineData("bench gpus", "bench: unknown target 'gpus' (known: kernels, train")]
    [InlineData("bench kernels --repeat 0", "--repeat must be at least 1")]
    public void Bad_input_gives_one_line_and_exit_code_1(string args, string expected)
    {
        var (code, err) = Run(args.Split(' '));
        Assert.Equal(CliHost.UserError, code);
        Assert.Contains(expected, err);
        Assert.Single(err.TrimEnd('\n').Split('\n'));
        Assert.StartsWith("mtkd: error: ", err);
    }

    [Fact]
    public void Unknown_verb_is_a_usage_error_with_a_short_verb_list()
    {
        var (code, output, err) = RunCapturing("frobnicate");
        Assert.Equal(CliHost.UsageError, code);
        Assert.Equal("", output);
        var lines = err.TrimEnd('\n').Split('\n');
        Assert.Equal("mtkd: unknown verb 'frobnicate'; one of:", lines[0]);
        foreach (string verb in new[] { "info", "bench", "demo", "teachers", "eval", "distill", "compare", "selfcheck" })
            Assert.Contains(lines, l => l.StartsWith($"  {verb} ", StringComparison.Ordinal));
        Assert.DoesNotContain("Copyright", err);
        Assert.True(lines.Length <= 12 && lines.All(l => l.Length <= 100), err);
    }

    [Fact]
    public void Bench_json_has_one_record_per_pass_with_the_documented_fields()
    {
        string dir = Directory.CreateTempSubdirectory("mtkd-cli").FullName;
        string json = Path.Combine(dir, "bench.json");
        var (code, err) = Run("bench", "kernels", "--backend", "reference", "--shape", "5,3,7,4;2,1,3,2", "--repeat", "3", "--warmup", "0", "--json", json);
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var records = doc.RootElement.EnumerateArray().ToList();
        Assert.Equal(6, records.Count);
        Assert.Equal(["stats", "gradient", "fused", "stats", "gradient", "fused"], records.Select(r => r.GetProperty("op").GetString()));
        foreach (var r in records)
        {
            Assert.Equal("reference", r.GetProperty("backend").GetString());
            foreach (var f in new[] { "B", "K", "C", "D", "median_ms", "p20_ms", "p80_ms", "bytes", "gbps", "max_rel_err" })
                Assert.True(r.TryGetProperty(f, out _), $"missing field {f}");
            Assert.True(r.GetProperty("p20_ms").GetDouble() <= r.GetProperty("median_ms").GetDouble());
            Assert.True(r.GetProperty("median_ms").GetDouble() <= r.GetProperty("p80_ms").GetDouble());
            Assert.True(r.GetProperty("max_rel_err").GetDouble() < 1e-6);
        }
        Assert.Equal(5, records[0].GetProperty("B").GetInt32());
        Assert.Equal(3, records[0].GetProperty("K").GetInt32());
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    [Fact]
    public void Bench_kernels_runs_the_native_op_on_the_threads_it_is_given()
    {
        string dir = Directory.CreateTempSubdirectory("mtkd-cli").FullName;
        string json = Path.Combine(dir, "bench.json");
        var (code, err) = Run("bench", "kernels", "--backend", "native", "--shape", "7,3,11,5", "--repeat", "3", "--warmup", "0", "--threads", "1", "--json", json);
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var records = doc.RootElement.EnumerateArray().ToList();
        Assert.Equal(3, records.Count);
        Assert.All(records, r => Assert.True(r.GetProperty("max_rel_err").GetDouble() < 1e-5));
    }

    [Fact]
    public void Bench_to_an_unwritable_path_fails_before_timing_and_leaves_nothing()
    {
        var (code, err) = Run("bench", "kernels", "--backend", "reference", "--shape", "2,1,3,2", "--json", "/nonexistent-dir/x.json");
        Assert.Equal(CliHost.UserError, code);
        Assert.Contains("/nonexistent-dir/x.json", err);
    }

    [Fact]
    public void Info_lists_every_backend_with_its_status()
    {
        var (code, output, _) = RunCapturing("info");
        Assert.Equal(0, code);
        foreach (var name in MtkdRl.Backends.BackendCatalog.Names)
            Assert.Matches($@"\b{System.Text.RegularExpressions.Regex.Escape(name)}\s+.*(yes|no): ", output);
        Assert.Contains("yes: managed C#", output);
    }

    /// <summary>Each bench target is a verb of its own: its help lists its options and no other target's.</summary>
    [Theory]
    [InlineData("kernels", "--shape", "--model")]
    [InlineData("kernels", "--max-seconds", "--batches")]
    [InlineData("train", "--model", "--shape")]
    [InlineData("train", "--input", "--pool")]
    [InlineData("epoch", "--pool", "--input")]
    [InlineData("epoch", "--rounds", "--batches")]
    [InlineData("strategies", "--batches", "--shape")]
    [InlineData("strategies", "--classes", "--rounds")]
    public void Bench_target_help_lists_its_own_options_only(string target, string own, string other)
    {
        var (code, output, _) = RunCapturing("bench", target, "--help");
        Assert.Equal(0, code);
        Assert.Contains(own, output);
        Assert.DoesNotContain(other, output);
    }

    [Fact]
    public void Bench_help_lists_the_targets()
    {
        var (code, output, _) = RunCapturing("bench", "--help");
        Assert.Equal(0, code);
        foreach (var target in new[] { "kernels", "train", "epoch", "strategies" })
            Assert.Matches($@"(?m)^\s+{target}\s", output);
    }

    [Fact]
    public void Bench_targets_are_matched_ignoring_case()
    {
        var (code, err) = Run("bench", "KERNELS", "--shape", "1,2");
        Assert.Equal(CliHost.UserError, code);
        Assert.Contains("--shape '1,2': expected B,K,C,D", err);
    }
}
