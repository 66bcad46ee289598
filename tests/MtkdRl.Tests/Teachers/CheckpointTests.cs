using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Data.Batching;
using MtkdRl.Teachers;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Training;
using MtkdRl.Training;

namespace MtkdRl.Tests.Teachers;

/// <summary>Checkpoints: a round trip keeps the model bit for bit; a damaged weights file is refused naming the file and the tensor.</summary>
public class CheckpointTests
{
    private const string Spec = "cnn:4,fc8,drop0.1";

    /// <summary>A model trained a few steps (so BatchNorm's running statistics and the dropout stream have moved), saved to a temp folder.</summary>
    private static (Model Model, string Base, float[] Input) SavedModel(TempFolder temp)
    {
        var data = TeacherTestData.Tiny;
        var model = ModelSpec.Parse(Spec).Build(SampleShape.Image(1, 28, 28), 10, TrainingTestCompute.Shared, new Rng(5));
        var optimizer = new Sgd(model.Parameters, 0.05, momentum: 0.9);
        var loader = new BatchLoader(data.Train, ChannelNormalization.FromTrainingSplit(data.Train), BatchLoaderOptions.Training(32), new Rng(6));
        var batch = loader.CreateBatch();
        var grad = new float[32 * 10];
        for (int i = 0; i < 3 && loader.TryNext(batch); i++)
        {
            model.Forward(batch.Images, batch.Count, training: true);
            SoftmaxCrossEntropy.Compute(model.Logits, batch.Labels, 10, grad.AsSpan(0, batch.Count * 10));
            model.Backward(grad.AsSpan(0, batch.Count * 10));
            optimizer.Step();
        }
        string basePath = temp.File("m");
        var norm = ChannelNormalization.FromTrainingSplit(data.Train);
        Checkpoint.Save(basePath, model, new CheckpointConfig
        {
            Name = "m",
            Dataset = new DatasetIdentity(data.Name, data.FingerprintHex),
            Normalization = new NormalizationRecord([.. norm.Mean], [.. norm.Std]),
            ClassNames = data.ClassNames,
        }, optimizer);
        return (model, basePath, batch.Images.ToArray());
    }

    [Fact]
    public void Round_trip_gives_bit_identical_logits_and_the_same_dropout_stream()
    {
        using var temp = new TempFolder();
        var (model, basePath, x) = SavedModel(temp);
        int n = x.Length / model.InputShape.Size;
        var loaded = Checkpoint.Load(basePath + ".safetensors", TrainingTestCompute.Shared);
        Assert.Equal(Spec, loaded.Config.Spec);
        Assert.NotNull(loaded.OptimizerState);
        Assert.Equal(3, loaded.OptimizerState!.Scalars["step"]);

        model.Forward(x, n, training: false);
        var expected = model.Logits.ToArray();
        loaded.Model.Forward(x, n, training: false);
        Assert.Equal(expected, loaded.Model.Logits.ToArray());
        // Training mode draws dropout masks: equal only if the stream's state came back too.
        model.Forward(x, n, training: true);
        expected = model.Logits.ToArray();
        loaded.Model.Forward(x, n, training: true);
        Assert.Equal(expected, loaded.Model.Logits.ToArray());
    }

    /// <summary>Rewrites the weights file with one tensor changed by <paramref name="edit"/> (null: left out).</summary>
    private static void Rewrite(string weights, string tensor, Action<SafeTensors.Builder, float[], int[]>? edit)
    {
        var file = SafeTensors.File.Read(weights);
        var builder = new SafeTensors.Builder();
        foreach (var t in file.Tensors)
        {
            var values = file.ReadSingle(t.Name);
            if (t.Name != tensor) builder.Add(t.Name, values, t.Shape);
            else edit?.Invoke(builder, values, t.Shape);
        }
        builder.Write(weights);
    }

    [Theory]
    [InlineData("missing", "tensor 'conv1.weight' is missing (model cnn:4,fc8,drop0.1 needs it)")]
    [InlineData("shape", "tensor 'conv1.weight' has shape [2,2,1,9], model cnn:4,fc8,drop0.1 expects [4,1,3,3]")]
    [InlineData("dtype", "tensor 'conv1.weight' is F16, expected F32")]
    [InlineData("extra", "tensor 'fc9.weight' is not part of model cnn:4,fc8,drop0.1")]
    public void A_damaged_weights_file_is_refused_naming_the_file_and_tensor(string damage, string message)
    {
        using var temp = new TempFolder();
        var (_, basePath, _) = SavedModel(temp);
        string weights = basePath + ".safetensors";
        Rewrite(weights, "conv1.weight", damage switch
        {
            "missing" => null,
            "shape" => (b, v, _) => b.Add("conv1.weight", v, 2, 2, 1, 9),
            "dtype" => (b, v, s) => b.Add("conv1.weight", v.Select(f => (Half)f).ToArray(), s),
            _ => (b, v, s) => b.Add("conv1.weight", v, s).Add("fc9.weight", v, s),
        });
        var e = Assert.Throws<MtkdInputException>(() => Checkpoint.Load(basePath + ".json", TrainingTestCompute.Shared));
        Assert.Equal($"{weights}: {message}", e.Message);
    }

    [Fact]
    public void Weights_from_another_save_are_refused()
    {
        using var temp = new TempFolder();
        var (_, basePath, _) = SavedModel(temp);
        string weights = basePath + ".safetensors";
        Rewrite(weights, "head.bias", (b, v, s) => b.Add("head.bias", v.Select(f => f + 1).ToArray(), s));
        var e = Assert.Throws<MtkdInputException>(() => Checkpoint.Load(basePath, TrainingTestCompute.Shared));
        Assert.StartsWith($"{weights}: its SHA-256 ", e.Message);
        Assert.Contains("weights and config come from different saves", e.Message);
    }

    [Fact]
    public void A_config_naming_an_unknown_architecture_is_refused()
    {
        using var temp = new TempFolder();
        var (_, basePath, _) = SavedModel(temp);
        string json = basePath + ".json";
        File.WriteAllText(json, File.ReadAllText(json).Replace("\"cnn:4,fc8,drop0.1\"", "\"rnn:4\""));
        var e = Assert.Throws<MtkdInputException>(() => Checkpoint.Load(json, TrainingTestCompute.Shared));
        Assert.Equal($"{json}: model spec 'rnn:4': unknown architecture 'rnn' (known: linear, mlp, cnn, det, unet, fcn)", e.Message);
    }
}
