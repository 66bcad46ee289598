using MtkdRl.Core;
using MtkdRl.Tests.Support;
using MtkdRl.Training;

namespace MtkdRl.Tests.Training;

public class ModelTests
{
    private static CpuCompute Compute => TrainingTestCompute.Shared;

    private static Model Build(string spec, SampleShape input, int classes = 3, ulong seed = 1) =>
        ModelSpec.Parse(spec).Build(input, classes, Compute, new Rng(seed));

    [Theory]
    [InlineData("linear", 784, 7850)]
    [InlineData("mlp:64", 64, 784 * 64 + 64 + 650)]
    [InlineData("mlp:512x512", 512, 784 * 512 + 512 + 512 * 512 + 512 + 5130)]
    [InlineData("mlp:32,bn", 32, 784 * 32 + 64 + 330)]
    [InlineData("cnn:32x64", 128, 288 + 64 + 18432 + 128 + 3136 * 128 + 128 + 1290)]
    [InlineData("cnn:8,fc0,gap", 8, 72 + 16 + 90)]
    [InlineData("cnn:4x4x4x4x4,fc0", 4, 36 + 8 + 4 * (144 + 8) + 4 * 10 + 10)]
    [InlineData("cnn:4x4,c2,fc0", 196, 36 + 8 + 3 * (144 + 8) + 196 * 10 + 10)]
    public void Shapes_embedding_widths_and_parameter_counts(string spec, int embedding, long parameters)
    {
        var model = Build(spec, SampleShape.Image(1, 28, 28), classes: 10);
        Assert.Equal(embedding, model.EmbeddingWidth);
        Assert.Equal(parameters, model.ParameterCount);
        Assert.Equal(10, model.Classes);
        Assert.Equal(model.Parameters.Count, model.Parameters.Select(p => p.Name).Distinct().Count());
        Assert.Equal("head.weight", model.Parameters[^2].Name);
        Assert.Equal([10, embedding], model.Parameters[^2].Shape);
    }

    [Fact]
    public void Cnn_names_follow_pytorch_and_buffers_are_listed()
    {
        var model = Build("cnn:32x64", SampleShape.Image(1, 28, 28), classes: 10);
        Assert.Equal(
            ["conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight", "bn2.bias", "fc.weight", "fc.bias", "head.weight", "head.bias"],
            model.Parameters.Select(p => p.Name));
        Assert.Equal([32, 1, 3, 3], model.Parameters[0].Shape);
        Assert.Equal(["bn1.running_mean", "bn1.running_var", "bn2.running_mean", "bn2.running_var"], model.Buffers.Select(b => b.Name));
        Assert.Empty(model.RandomStreams);
        Assert.Same(model.Buffers[3], model.FindTensor("bn2.running_var"));
        Assert.Same(model.Parameters[0], model.FindTensor("conv1.weight"));
        Assert.Null(model.FindTensor("conv3.weight"));
        Assert.Equal(14, model.NamedTensors.Count());
        Assert.Equal(["drop.rng"], Build("mlp:8,drop0.1", SampleShape.Vector(5)).RandomStreams.Select(r => r.Name));
    }

    [Fact]
    public void The_same_seed_builds_the_same_model_and_another_seed_does_not()
    {
        var a = Build("mlp:16x8", SampleShape.Vector(12), seed: 7);
        var b = Build("mlp:16x8", SampleShape.Vector(12), seed: 7);
        var c = Build("mlp:16x8", SampleShape.Vector(12), seed: 8);
        for (int i = 0; i < a.Parameters.Count; i++) Assert.Equal(a.Parameters[i].Value, b.Parameters[i].Value);
        Assert.NotEqual(a.Parameters[0].Value, c.Parameters[0].Value);
    }

    [Theory]
    [InlineData("mlp:6x5", true)]
    [InlineData("mlp:6,bn", true)]
    [InlineData("mlp:6,bn", false)]
    [InlineData("linear", true)]
    [InlineData("cnn:3x4,fc5", true)]
    [InlineData("cnn:3x4,fc5", false)]
    [InlineData("cnn:2,fc0,gap,nobn", true)]
    [InlineData("cnn:2x3,c2,fc4", true)]
    public void Model_gradients_with_an_embedding_gradient_match_central_differences(string spec, bool training)
    {
        int seed = TestSeeds.Next();
        var rng = new Random(seed);
        var model = Build(spec, SampleShape.Image(2, 6, 5), seed: (ulong)seed);
        // Biases start at 0, so a row whose ReLU inputs are all negative would put the next ReLU exactly on
        // its kink, where central differences see half a slope: move every bias and BatchNorm shift off 0.
        foreach (var p in model.Parameters.Where(p => p.Name.EndsWith(".bias", StringComparison.Ordinal)))
            for (int i = 0; i < p.Size; i++) p.Value[i] = (float)(rng.NextDouble() - 0.5);
        foreach (var bn in model.Layers.OfType<BatchNorm>())
        {
            for (int i = 0; i < bn.Weight.Size; i++) bn.Weight.Value[i] = (float)(0.5 + rng.NextDouble());
            for (int i = 0; i < bn.RunningVar.Size; i++) bn.RunningVar.Value[i] = (float)(0.5 + rng.NextDouble());
        }
        int B = 4;
        var x = GradientCheck.Random(rng, B * model.InputShape.Size);
        GradientCheck.Model(model, x, B, training, rng).AssertWithin($"{spec} (training={training}, seed {seed})");
    }

    [Fact]
    public void The_embedding_gradient_adds_to_the_one_from_the_logits()
    {
        var model = Build("mlp:6", SampleShape.Vector(4));
        var rng = new Random(TestSeeds.Next());
        var x = GradientCheck.Random(rng, 3 * 4);
        var dz = GradientCheck.Random(rng, 3 * 3);
        var de = GradientCheck.Random(rng, 3 * 6);
        model.Forward(x, 3, true);
        model.Backward(dz);
        var logitsOnly = (float[])model.Parameters[0].Grad.Clone();
        model.Backward(new float[9], de);
        var embeddingOnly = (float[])model.Parameters[0].Grad.Clone();
        Assert.All(model.Parameters.Single(p => p.Name == "head.weight").Grad, g => Assert.Equal(0f, g));
        model.Backward(dz, de);
        for (int i = 0; i < logitsOnly.Length; i++)
            Assert.Equal(logitsOnly[i] + embeddingOnly[i], model.Parameters[0].Grad[i], 1e-5 * (1 + Math.Abs(logitsOnly[i]) + Math.Abs(embeddingOnly[i])));
        Assert.NotEqual(logitsOnly, embeddingOnly);
    }

    [Fact]
    public void Linear_model_embedding_is_its_input()
    {
        var model = Build("linear", SampleShape.Image(1, 2, 3));
        float[] x = [1, 2, 3, 4, 5, 6];
        model.Forward(x, 1, false);
        Assert.Equal(x, model.Embedding.ToArray());
        Assert.Equal(6, model.EmbeddingWidth);
    }

    [Fact]
    public void Partial_batches_reuse_buffers_and_give_the_same_rows()
    {
        var model = Build("cnn:4,fc6", SampleShape.Image(1, 8, 8));
        var rng = new Random(TestSeeds.Next());
        var x = GradientCheck.Random(rng, 10 * 64);
        model.Forward(x, 10, false);
        var all = model.Logits.ToArray();
        var emb = model.Embedding.ToArray();
        model.Forward(x.AsSpan(0, 3 * 64), 3, false);
        Assert.Equal(3 * 3, model.Logits.Length);
        Assert.Equal(3 * 6, model.Embedding.Length);
        // The same rows up to rounding: BLAS may block a 3-row product differently from a 10-row one (seen: one
        // ulp apart on some seeds), so the rows agree to float precision, not bit for bit.
        var logits = model.Logits.ToArray();
        var embedding = model.Embedding.ToArray();
        for (int i = 0; i < 9; i++) Assert.Equal(all[i], logits[i], 1e-5f * (1 + Math.Abs(all[i])));
        for (int i = 0; i < 18; i++) Assert.Equal(emb[i], embedding[i], 1e-5f * (1 + Math.Abs(emb[i])));
    }

    [Fact]
    public void Wrong_sizes_are_refused_with_the_model_named()
    {
        var model = Build("mlp:4", SampleShape.Vector(5));
        var e = Assert.Throws<MtkdInputException>(() => model.Forward(new float[9], 2, true));
        Assert.Contains("mlp:4", e.Message);
        Assert.Throws<InvalidOperationException>(() => model.Backward(new float[6]));
        model.Forward(new float[10], 2, true);
        Assert.Throws<MtkdInputException>(() => model.Backward(new float[5]));
        Assert.Throws<MtkdInputException>(() => model.Backward(new float[6], new float[7]));
        Assert.Throws<MtkdInputException>(() => ModelSpec.Parse("cnn:4").Build(SampleShape.Vector(5), 3, Compute, new Rng(1)));
        Assert.Throws<MtkdInputException>(() => ModelSpec.Parse("mlp:4").Build(SampleShape.Vector(5), 1, Compute, new Rng(1)));
    }
}
