using MtkdRl.Core;
using MtkdRl.Tests.Support;
using MtkdRl.Training;
using Xunit.Sdk;

namespace MtkdRl.Tests.Training;

/// <summary>
/// The unet and fcn specs: parsing, shapes, and the whole network's forward and gradients (logits and the
/// pooled embedding, through the skips) against a float64 walk of the same graph built from
/// <see cref="ReferenceLayers"/> and central differences of L = sum(R * logits) + sum(Q * embedding).
/// </summary>
public class SegmentationModelTests
{
    private static CpuCompute Compute => TrainingTestCompute.Shared;

    [Theory]
    [InlineData("unet:16x32", "unet:16x32")]
    [InlineData(" UNET:8x16x32 ", "unet:8x16x32")]
    [InlineData("fcn:16x32", "fcn:16x32")]
    [InlineData("fcn:8", "fcn:8")]
    [InlineData("unet:8x16,c2", "unet:8x16,c2")]
    [InlineData("fcn:8x16,C3", "fcn:8x16,c3")]
    [InlineData("unet:8x16,c1", "unet:8x16")]
    public void Segmentation_specs_round_trip(string text, string canonical)
    {
        var spec = ModelSpec.Parse(text);
        Assert.True(spec.IsSegmentation);
        Assert.Equal(canonical, spec.ToString());
        Assert.Equal(spec, ModelSpec.Parse(canonical));
        Assert.False(ModelSpec.Parse("cnn:16").IsSegmentation);
    }

    [Theory]
    [InlineData("unet:16", "unet needs at least two stages")]
    [InlineData("unet", "unet needs channel counts, e.g. unet:16x32")]
    [InlineData("fcn:8x0", "channel count '0' must be a positive integer")]
    [InlineData("unet:8x16,gap", "unknown option 'gap' for unet")]
    [InlineData("fcn:1x1x1x1x1x1x1x1x1", "9 stages is more than 8")]
    [InlineData("unet:8x16,c5", "convolutions per stage 'c5' must be c followed by 1 to 4, e.g. c2")]
    [InlineData("fcn:8x16,c0", "convolutions per stage 'c0' must be c followed by 1 to 4, e.g. c2")]
    [InlineData("unet:8x16,c2,c3", "option 'c' given twice")]
    public void Bad_segmentation_specs_give_one_line_errors(string text, string fragment)
    {
        var e = Assert.Throws<MtkdInputException>(() => ModelSpec.Parse(text, "teacher"));
        Assert.StartsWith($"teacher spec '{text}': ", e.Message);
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void Shapes_and_embedding_width()
    {
        var unet = ModelSpec.Parse("unet:8x16x24").BuildSegmentation(SampleShape.Image(1, 16, 16), 11, Compute, new Rng(1));
        Assert.Equal(11, unet.Classes);
        Assert.Equal(256, unet.Pixels);
        Assert.Equal(24, unet.EmbeddingWidth);
        Assert.Equal(2, unet.Decoder.Count);
        var fcn = ModelSpec.Parse("fcn:8x16x24").BuildSegmentation(SampleShape.Image(1, 16, 16), 11, Compute, new Rng(1));
        Assert.Empty(fcn.Decoder);
        Assert.Equal(3, fcn.Head.Count); // the 1x1 classifier and two 2x upsamplings
        fcn.Forward(new float[3 * 256], 3, training: false);
        Assert.Equal(3 * 11 * 256, fcn.Logits.Length);
        Assert.Equal(3 * 24, fcn.Embedding.Length);
    }

    [Theory]
    [InlineData("unet:8x16x24", 2)]
    [InlineData("fcn:8x16x24", 3)]
    public void Option_c_stacks_that_many_blocks_per_stage_and_c1_builds_the_network_without_the_option(string text, int n)
    {
        var input = SampleShape.Image(1, 16, 16);
        var plain = ModelSpec.Parse(text).BuildSegmentation(input, 5, Compute, new Rng(4));
        var c1 = ModelSpec.Parse(text + ",c1").BuildSegmentation(input, 5, Compute, new Rng(4));
        Assert.Equal(plain.Parameters.Select(p => p.Name), c1.Parameters.Select(p => p.Name));
        foreach (var (a, b) in plain.Parameters.Zip(c1.Parameters)) Assert.Equal(a.Value.ToArray(), b.Value.ToArray());

        var deep = ModelSpec.Parse($"{text},c{n}").BuildSegmentation(input, 5, Compute, new Rng(4));
        int Convs(IEnumerable<Layer> layers) => layers.OfType<Conv2d>().Count();
        for (int i = 0; i < deep.Encoder.Count; i++) Assert.Equal(n * Convs(plain.Encoder[i]), Convs(deep.Encoder[i]));
        for (int i = 0; i < deep.Decoder.Count; i++) Assert.Equal(n * Convs(plain.Decoder[i].Block), Convs(deep.Decoder[i].Block));
        var names = deep.Parameters.Select(p => p.Name).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.Contains("enc1b_conv.weight", names);
        // Same output shapes: the extra blocks keep the stage's width and resolution.
        Assert.Equal(plain.EmbeddingWidth, deep.EmbeddingWidth);
        Assert.Equal(plain.Pixels, deep.Pixels);
    }

    [Theory]
    [InlineData("unet:8x16x24", 10, "multiples of 4")]
    [InlineData("fcn:8x16", 7, "multiples of 2")]
    public void An_image_the_stages_cannot_halve_is_refused(string text, int side, string fragment)
    {
        var e = Assert.Throws<MtkdInputException>(() =>
            ModelSpec.Parse(text).BuildSegmentation(SampleShape.Image(1, side, side), 3, Compute, new Rng(1)));
        Assert.Contains(fragment, e.Message);
        var classifier = Assert.Throws<MtkdInputException>(() => ModelSpec.Parse(text).Build(SampleShape.Image(1, 8, 8), 3, Compute, new Rng(1)));
        Assert.Contains("segmentation network", classifier.Message);
    }

    [Theory]
    [InlineData("unet:2x3", 1, 4, 4, 3, true)]
    [InlineData("unet:2x3x2", 2, 8, 8, 3, true)]
    [InlineData("unet:2x3", 1, 4, 6, 2, false)]
    [InlineData("fcn:2x3", 2, 4, 6, 3, true)]
    [InlineData("fcn:3x2x2", 1, 8, 8, 2, false)]
    [InlineData("unet:2x3,c2", 1, 4, 4, 3, true)]
    [InlineData("unet:2x2x3,c3", 1, 8, 8, 2, false)]
    [InlineData("fcn:2x3,c2", 2, 4, 6, 3, true)]
    public void Gradients_match_central_differences_through_the_skips(string text, int channels, int h, int w, int classes, bool training)
    {
        int seed = TestSeeds.Next();
        var rng = new Random(seed);
        var model = ModelSpec.Parse(text).BuildSegmentation(SampleShape.Image(channels, h, w), classes, Compute, new Rng((ulong)seed));
        foreach (var p in model.Parameters)
            for (int i = 0; i < p.Size; i++) p.Value[i] = (float)(rng.NextDouble() * 2 - 1);
        foreach (var bn in model.Layers.OfType<BatchNorm>())
            for (int i = 0; i < bn.RunningVar.Size; i++) { bn.RunningMean.Value[i] = (float)(rng.NextDouble() - 0.5); bn.RunningVar.Value[i] = (float)(0.5 + rng.NextDouble()); }
        const int B = 2;
        var running = model.Layers.OfType<BatchNorm>().ToDictionary(bn => (Layer)bn, ReferenceLayers.Running);
        var x = GradientCheck.Random(rng, B * model.InputShape.Size);
        model.Forward(x, B, training);
        var p64 = ReferenceLayers.CopyParameters(model.Parameters);
        var xd = x.Select(v => (double)v).ToArray();

        (double[] Logits, double[] Embedding) Reference()
        {
            double[] Run(IEnumerable<Layer> layers, double[] a)
            {
                foreach (var layer in layers) a = ReferenceLayers.Forward(layer, a, B, p64, training, running.GetValueOrDefault(layer));
                return a;
            }
            var (a, b) = ReferenceLayers.Forward(model.Body, xd, B, p64, training, running);
            var bottleneck = model.Encoder[^1][^1].OutputShape;
            var embedding = new double[B * bottleneck.Channels];
            for (int i = 0; i < embedding.Length; i++) embedding[i] = b.Skip(i * bottleneck.Plane).Take(bottleneck.Plane).Average();
            return (Run(model.Head, a), embedding);
        }

        var (logits, embeddingRef) = Reference();
        double forward = Math.Max(GradientCheck.RelativeError(model.Logits, logits), GradientCheck.RelativeError(model.Embedding, embeddingRef));
        var r = GradientCheck.Random(rng, logits.Length);
        var q = GradientCheck.Random(rng, embeddingRef.Length);
        model.Backward(r, q, inputGradient: true);
        double Loss()
        {
            var (z, e) = Reference();
            double sum = 0;
            for (int i = 0; i < z.Length; i++) sum += r[i] * z[i];
            for (int i = 0; i < e.Length; i++) sum += q[i] * e[i];
            return sum;
        }
        string what = $"{text} on {model.InputShape} (training {training}, seed {seed})";
        if (!(forward <= GradientCheck.ForwardTolerance)) throw new XunitException($"{what}: forward error {forward:E2}");
        double floor = GradientCheck.ModelFloor(model.Parameters);
        double input = GradientCheck.Error(model.InputGradient, xd, Loss, floor);
        if (!(input <= GradientCheck.GradientTolerance)) throw new XunitException($"{what}: input-gradient error {input:E2}");
        foreach (var param in model.Parameters)
        {
            double error = GradientCheck.Error(param.Grad, p64[param], Loss, floor);
            if (!(error <= GradientCheck.GradientTolerance)) throw new XunitException($"{what}: gradient error of {param.Name} {error:E2}");
        }
    }

    [Fact]
    public void Predict_takes_the_argmax_per_pixel()
    {
        var model = ModelSpec.Parse("fcn:2").BuildSegmentation(SampleShape.Image(1, 2, 2), 3, Compute, new Rng(3));
        model.Forward(GradientCheck.Random(new Random(5), 2 * 4), 2, training: false);
        var labels = new byte[2 * 4];
        model.Predict(labels);
        var z = model.Logits.ToArray();
        for (int s = 0; s < 2; s++)
            for (int p = 0; p < 4; p++)
            {
                int best = Enumerable.Range(0, 3).MaxBy(c => z[(s * 3 + c) * 4 + p]);
                Assert.Equal(best, labels[s * 4 + p]);
            }
    }
}
