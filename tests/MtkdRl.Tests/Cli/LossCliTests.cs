using System.Text.Json;
using MtkdRl.Tests.Teachers;
using static MtkdRl.Tests.Cli.CliRun;

namespace MtkdRl.Tests.Cli;

/// <summary>`--kd-loss` and `--feature-loss` on distill and bench kernels: recorded, checked on resume, one line when bad.</summary>
[Collection("console")]
public class LossCliTests(TinyPoolFixture fixture) : IClassFixture<TinyPoolFixture>
{
    private static readonly string[] Student = ["--student", "mlp:16", "--batch", "50", "--epochs", "1"];

    private string CachedPool() => fixture.CachedPool();

    [Fact]
    public void Distill_records_the_losses_and_resume_with_others_is_refused()
    {
        string pool = CachedPool(), outDir = fixture.Folder.Sub("loss-" + Guid.NewGuid().ToString("N")[..6]);
        string[] common = ["distill", "--data", fixture.DataDir, "--pool", pool, "--strategy", "aver", "--out", outDir, .. Student];
        AssertOk(Run([.. common, "--kd-loss", "jsd:0.3", "--feature-loss", "cosine"]));
        using (var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "state.json"))))
        {
            var recipe = state.RootElement.GetProperty("recipe");
            Assert.Equal("jsd:beta=0.3", recipe.GetProperty("kd_loss").GetString());
            Assert.Equal("cosine", recipe.GetProperty("feature_loss").GetString());
        }
        AssertOk(Run([.. common, "--resume", "--kd-loss", "jsd:beta=0.3", "--feature-loss", "cosine"]));
        AssertOneLineError(Run([.. common, "--resume"]), "another configuration");
        AssertOneLineError(Run([.. common, "--resume", "--kd-loss", "jsd:0.3"]), "another configuration");
    }

    [Fact]
    public void Bad_loss_options_are_one_line_errors()
    {
        string pool = CachedPool(), outDir = fixture.Folder.Sub("loss-bad-" + Guid.NewGuid().ToString("N")[..6]);
        string[] common = ["distill", "--data", fixture.DataDir, "--pool", pool, "--strategy", "aver", "--out", outDir, .. Student];
        AssertOneLineError(Run([.. common, "--kd-loss", "hinge"]), "--kd-loss: unknown divergence 'hinge'");
        AssertOneLineError(Run([.. common, "--kd-loss", "dkd:beta=-1"]), "--kd-loss dkd: beta must be finite and > 0 (got -1)");
        AssertOneLineError(Run([.. common, "--feature-loss", "l1"]), "--feature-loss: unknown feature loss 'l1'");
    }

    [Fact]
    public void Bench_kernels_times_a_catalog_loss_and_records_it()
    {
        string dir = Directory.CreateTempSubdirectory("mtkd-cli").FullName, json = Path.Combine(dir, "bench.json");
        var (code, _, err) = Run("bench", "kernels", "--backend", "native", "--shape", "7,3,11,5", "--repeat", "2", "--warmup", "0",
            "--kd-loss", "dkd:alpha=2", "--feature-loss", "smooth-l1", "--json", json);
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        foreach (var r in doc.RootElement.EnumerateArray())
        {
            Assert.Equal("dkd:alpha=2,beta=8 + smooth-l1", r.GetProperty("loss").GetString());
            Assert.True(r.GetProperty("max_rel_err").GetDouble() < 1e-4);
        }
    }
}
