using System.Text.Json;
using MtkdRl.Tests.Data;
using static MtkdRl.Tests.Cli.CliRun;

namespace MtkdRl.Tests.Onnx;

/// <summary>`mtkd bench onnx`: one small model timed both ways, its record in the shared --json form.</summary>
[Collection("console")]
public sealed class BenchOnnxTests
{
    [Fact]
    public void Bench_onnx_times_both_runtimes_and_costs_the_import()
    {
        using var folder = new TempFolder();
        string json = Path.Combine(folder.Root, "onnx.json");
        var run = Run("bench", "onnx", "--model", "mlp:16;cnn:2,fc8", "--batch", "32", "--rows", "3200", "--repeat", "3", "--warmup", "1",
            "--threads", "1", "--json", json);
        AssertOk(run);
        Assert.Contains("ORT rows/s", run.Out);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(2, doc.RootElement.GetArrayLength());
        foreach (var r in doc.RootElement.EnumerateArray())
        {
            double ort = r.GetProperty("onnx_rows_per_s").GetDouble();
            Assert.True(ort > 0 && r.GetProperty("mtkd_rows_per_s").GetDouble() > 0 && r.GetProperty("train_rows_per_s").GetDouble() > 0);
            Assert.Equal(3200 / ort, r.GetProperty("import_seconds").GetDouble(), 6);
            Assert.True(r.GetProperty("max_relative_error").GetDouble() <= 1e-4);
        }
        var help = Run("bench", "onnx", "--help");
        Assert.Contains("--rows", help.Out);
        Assert.DoesNotContain("--pool", help.Out);
    }
}
