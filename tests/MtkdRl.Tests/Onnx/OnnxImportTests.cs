using MtkdRl.Data.Batching;
using MtkdRl.Data.Formats;
using MtkdRl.Onnx;
using MtkdRl.Teachers;
using MtkdRl.Tests.Training;
using MtkdRl.Training;
using static MtkdRl.Tests.Cli.CliRun;

namespace MtkdRl.Tests.Onnx;

/// <summary>`mtkd export` and `mtkd teachers import --onnx`: the round trip of a student, and one line per kind of bad model.</summary>
[Collection("console")]
public sealed class OnnxImportTests(OnnxPoolFixture fixture) : IClassFixture<OnnxPoolFixture>
{
    [Fact]
    public void Exported_teacher_reimported_scores_what_eval_scores_and_keeps_its_outputs()
    {
        var manifest = PoolManifest.Read(fixture.Pool);
        var imported = manifest.Teachers.Single(t => t.Name == "cnn-onnx");
        var cnn = Checkpoint.Load(Path.Combine(fixture.Pool, "cnn"), TrainingTestCompute.Shared);
        var evaluated = Evaluator.Run(cnn.Model, fixture.Data.Test, cnn.Normalization, "cnn");
        Assert.Equal(evaluated.Accuracy, imported.TestAccuracy);
        Assert.Equal(TeacherKind.Imported, imported.Kind);
        Assert.Equal(cnn.Model.EmbeddingWidth, imported.EmbeddingWidth);
        Assert.Equal("cnn-onnx.onnx", imported.Onnx!.File);
        Assert.Equal(cnn.Normalization.Mean, imported.Onnx.Mean);
        Assert.Equal(File.ReadAllBytes(fixture.Exported), File.ReadAllBytes(Path.Combine(fixture.Pool, imported.Onnx.File)));

        // The stored outputs are mtkd's own forward pass, to 1e-4, on both splits.
        foreach (var (split, logitsFile, embeddingsFile) in new[]
        {
            (fixture.Data.Train, imported.Outputs!.TrainLogits, imported.Outputs.TrainEmbeddings),
            (fixture.Data.Test, imported.Outputs.TestLogits, imported.Outputs.TestEmbeddings!),
        })
        {
            var want = OnnxTestModels.Mtkd(cnn.Model, split, cnn.Normalization);
            var logits = NpyFile.Read(Path.Combine(fixture.Pool, logitsFile)).ToFiniteMatrix("logits");
            var embeddings = NpyFile.Read(Path.Combine(fixture.Pool, embeddingsFile)).ToFiniteMatrix("embeddings");
            Assert.True(OnnxTestModels.RelativeError(logits.Values, want.Logits) <= 1e-4);
            Assert.True(OnnxTestModels.RelativeError(embeddings.Values, want.Embeddings) <= 1e-4);
        }

        // eval of the imported teacher prints the accuracy line eval of the checkpoint prints.
        var a = Run("eval", "--data", fixture.DataDir, "--model", Path.Combine(fixture.Pool, "cnn"));
        var b = Run("eval", "--data", fixture.DataDir, "--model", Path.Combine(fixture.Pool, "cnn-onnx"));
        AssertOk(a);
        AssertOk(b);
        string Line(string output) => output.Split('\n').Single(l => l.Contains("accuracy"));
        Assert.Equal(Line(a.Out).Split(", loss")[0], Line(b.Out).Split(", loss")[0]);
    }

    [Fact]
    public void Export_and_import_through_the_cli_then_the_cache_holds_the_onnx_teacher()
    {
        string onnx = Path.Combine(fixture.Folder.Sub("cli"), "mlp.onnx");
        var export = Run("export", "--model", Path.Combine(fixture.Pool, "mlp"), "--onnx", onnx, "--opset", "15");
        AssertOk(export);
        Assert.Contains("logits [N,10]", export.Out);
        var import = Run("teachers", "import", "--pool", fixture.Pool, "--name", "mlp-onnx", "--onnx", onnx, "--data", fixture.DataDir, "--threads", "1");
        AssertOk(import);
        Assert.Contains("the normalisation mtkd exported with the model", import.Out);
        var mlp = PoolManifest.Read(fixture.Pool).Teachers;
        Assert.Equal(mlp.Single(t => t.Name == "mlp").TestAccuracy, mlp.Single(t => t.Name == "mlp-onnx").TestAccuracy);
        lock (fixture)
        {
            AssertOk(Run("teachers", "cache", "--pool", fixture.Pool, "--data", fixture.DataDir));
        }
        using var cache = TeacherCache.Open(fixture.Pool, "test", fixture.Data);
        Assert.Contains(cache.Header.Teachers, t => t.Name == "mlp-onnx");
        AssertOneLineError(Run("export", "--model", Path.Combine(fixture.Pool, "mlp-onnx"), "--onnx", onnx), "imported teacher");
        AssertOneLineError(Run("export", "--model", Path.Combine(fixture.Pool, "mlp"), "--onnx", onnx, "--opset", "7"), "--opset 7");
    }

    private void AssertImportRefused(string onnx, string expected, params string[] extra)
    {
        string before = File.ReadAllText(PoolManifest.PathIn(fixture.Pool));
        AssertOneLineError(Run(["teachers", "import", "--pool", fixture.Pool, "--name", "bad", "--onnx", onnx, "--data", fixture.DataDir, .. extra]), expected);
        Assert.Equal(before, File.ReadAllText(PoolManifest.PathIn(fixture.Pool)));
        Assert.Empty(Directory.GetFiles(fixture.Pool, "bad.*"));
    }

    private string Exported(string name, Model model)
    {
        string path = Path.Combine(fixture.Folder.Sub("bad"), name);
        OnnxExporter.Write(path, model, ChannelNormalization.Unit(model.InputShape.Channels));
        return path;
    }

    [Fact]
    public void A_file_that_is_not_onnx_is_one_line()
    {
        string path = Path.Combine(fixture.Folder.Sub("bad"), "notes.onnx");
        File.WriteAllText(path, "these are not the weights you are looking for\n");
        AssertImportRefused(path, "not an ONNX model");
        AssertImportRefused(Path.Combine(fixture.Folder.Root, "missing.onnx"), "no such file");
    }

    [Fact]
    public void An_input_shape_that_does_not_fit_the_images_is_one_line()
    {
        var model = OnnxTestModels.Random("mlp:8", new SampleShape(1, 14, 14), 10, seed: 2);
        AssertImportRefused(Exported("small.onnx", model), "input 'input' has shape [N,1,14,14], the pool's images need [N,1,28,28]");
    }

    [Fact]
    public void A_named_output_that_does_not_exist_is_one_line()
    {
        AssertImportRefused(fixture.Exported, "no output named 'scores'", "--logits", "scores");
        AssertImportRefused(fixture.Exported, "no input named 'pixels'", "--input", "pixels");
    }

    [Fact]
    public void A_logits_width_other_than_the_class_count_is_one_line()
    {
        var model = OnnxTestModels.Random("mlp:8", new SampleShape(1, 28, 28), 5, seed: 3);
        AssertImportRefused(Exported("five.onnx", model), "has shape [N,5], the pool has 10 classes");
    }

    [Fact]
    public void Non_finite_outputs_name_the_row()
    {
        var model = OnnxTestModels.Random("mlp:8", new SampleShape(1, 28, 28), 10, seed: 4);
        ((Linear)model.Head[^1]).Bias!.Value[3] = float.NaN;
        AssertImportRefused(Exported("nan.onnx", model), "output 'logits' is NaN at train row 0, column 3");
        var infinite = OnnxTestModels.Random("mlp:8", new SampleShape(1, 28, 28), 10, seed: 4);
        ((Linear)infinite.Head[^1]).Bias!.Value[2] = float.PositiveInfinity;
        AssertImportRefused(Exported("inf.onnx", infinite), "output 'logits' is Infinity at train row 0, column 2");
    }

    [Fact]
    public void Normalisation_options_are_checked()
    {
        AssertImportRefused(fixture.Exported, "not both", "--scale", "0-1", "--normalize", "0.5,0.5");
        AssertImportRefused(fixture.Exported, "--scale '0-255'", "--scale", "0-255");
        AssertImportRefused(fixture.Exported, "expected mean,std", "--normalize", "0.1,0.2,0.3");
    }
}
