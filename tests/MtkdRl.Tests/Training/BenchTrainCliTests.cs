using System.Text.Json;
using MtkdRl.Cli;
using static MtkdRl.Tests.Cli.CliRun;

namespace MtkdRl.Tests.Training;

/// <summary>`mtkd bench train`: the JSON record and one-line errors.</summary>
[Collection("console")]
public class BenchTrainCliTests
{
    [Fact]
    public void Writes_one_record_per_model()
    {
        string json = Path.Combine(Path.GetTempPath(), $"mtkd-bench-train-{Guid.NewGuid():N}.json");
        try
        {
            var (code, output, err) = Run("bench", "train", "--model", "mlp:8;cnn:2,fc4", "--batch", "5", "--input", "1x6x6",
                "--classes", "3", "--repeat", "3", "--warmup", "1", "--json", json);
            Assert.True(code == 0, err);
            Assert.Contains("samples/s", output);
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var records = doc.RootElement.EnumerateArray().ToList();
            Assert.Equal(["mlp:8", "cnn:2,fc4"], records.Select(r => r.GetProperty("model").GetString()));
            var mlp = records[0];
            Assert.Equal(5, mlp.GetProperty("batch").GetInt32());
            Assert.Equal("1x6x6", mlp.GetProperty("input").GetString());
            Assert.Equal(36 * 8 + 8 + 8 * 3 + 3, mlp.GetProperty("parameters").GetInt64());
            Assert.Equal(3, mlp.GetProperty("repeats").GetInt32());
            double ms = mlp.GetProperty("step_median_ms").GetDouble();
            Assert.True(ms > 0);
            Assert.InRange(mlp.GetProperty("samples_per_s").GetDouble() / (5 / (ms / 1000)), 0.99, 1.01);
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Theory]
    [InlineData("bench train --model mlp:0", "--model spec 'mlp:0': hidden width '0' must be a positive integer")]
    [InlineData("bench train --model mlp:4 --input 1x0x3", "sample shape '1x0x3'")]
    [InlineData("bench train --model mlp:4 --batch 0", "--batch must be positive")]
    [InlineData("bench train --model mlp:4 --classes 1", "--classes must be at least 2")]
    public void Bad_input_gives_one_line_and_exit_code_1(string args, string expected)
    {
        var (code, _, err) = Run(args.Split(' '));
        Assert.Equal(CliHost.UserError, code);
        Assert.Contains(expected, err);
        Assert.Single(err.TrimEnd('\n').Split('\n'));
    }
}
