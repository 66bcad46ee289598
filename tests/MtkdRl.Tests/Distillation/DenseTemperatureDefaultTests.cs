using System.Text.Json;
using MtkdRl.Distillation;
using MtkdRl.Tests.Cli;
using MtkdRl.Tests.Data;

namespace MtkdRl.Tests.Distillation;

/// <summary>
/// The KD temperature follows the task unless given: T=4 for classification, T=1 on scenes (per-pixel or
/// per-location KL), and --temperature wins either way. Read back from the run's own record (state.json), which
/// is what a resume compares.
/// </summary>
public sealed class DenseTemperatureDefaultTests(TinyPoolFixture fixture) : IClassFixture<TinyPoolFixture>
{
    private static double RecordedTemperature(string outDir) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "state.json"))).RootElement.GetProperty("recipe").GetProperty("temperature").GetDouble();

    [Fact]
    public void Scenes_default_to_T1_classification_to_T4_and_the_option_wins()
    {
        using var temp = new TempFolder();
        var (data, pool) = DenseDistillRunTests.Setup(temp);
        string[] dense = ["distill", "--data", Path.Combine(temp.Root, "scenes"), "--pool", pool, "--student", "unet:4x8", "--strategy", "aver",
            "--epochs", "1", "--batch", "8", "--threads", "1"];
        CliRun.AssertOk(CliRun.Run([.. dense, "--out", temp.Sub("dense-default")]));
        Assert.Equal(DistillRecipe.DenseTemperature, RecordedTemperature(temp.Sub("dense-default")));
        CliRun.AssertOk(CliRun.Run([.. dense, "--temperature", "3", "--out", temp.Sub("dense-given")]));
        Assert.Equal(3.0, RecordedTemperature(temp.Sub("dense-given")));

        string cls = temp.Sub("cls");
        CliRun.AssertOk(CliRun.Run(["distill", "--data", fixture.DataDir, "--pool", fixture.CachedPool(), "--strategy", "aver", "--epochs", "1",
            "--student", "mlp:16", "--threads", "1", "--out", cls]));
        Assert.Equal(DistillRecipe.DefaultTemperature, RecordedTemperature(cls));
        Assert.NotEqual(DistillRecipe.DefaultTemperature, DistillRecipe.DenseTemperature);
    }
}
