using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>Turns a unet or fcn <see cref="ModelSpec"/> into a <see cref="SegmentationModel"/>, initialised from an <see cref="Rng"/>.</summary>
internal static class SegmentationBuilder
{
    public static SegmentationModel Build(ModelSpec spec, SampleShape input, int classes, CpuCompute compute, Rng rng)
    {
        if (!spec.IsSegmentation) throw new MtkdInputException($"model '{spec}': not a segmentation spec (unet:W[xW...] or fcn:W[xW...])");
        if (classes < 2) throw new MtkdInputException($"model '{spec}': needs at least 2 classes, background included (got {classes})");
        if (input.IsVector) throw new MtkdInputException($"model '{spec}': needs image samples (Ch x H x W), got vectors of {input}");
        int stages = spec.Widths.Count, factor = 1 << (stages - 1);
        if (input.Height % factor != 0 || input.Width % factor != 0)
            throw new MtkdInputException($"model '{spec}': {stages} stages halve the image {stages - 1} times, so its height and width must be multiples of {factor} (got {input.Height}x{input.Width})");

        var encoder = Encoder(input, stages, i => $"enc{i + 1}_pool",
            (stage, shape, i) => ConvBlocks(stage, $"enc{i + 1}", shape, spec.Widths[i], spec.ConvsPerStage, compute, rng), compute);
        var shape = encoder[^1][^1].OutputShape;

        var decoder = spec.Family == ModelFamily.Unet ? Decoder(encoder, spec.Widths, spec.ConvsPerStage, 0, compute, rng) : [];
        if (decoder.Count > 0) shape = decoder[^1].Block[^1].OutputShape;

        var head = new List<Layer>();
        var classifier = new Conv2d("head", shape, classes, 1, compute, stride: 1, padding: 0, bias: true);
        Initializers.XavierUniform(classifier.Weight.Value, shape.Channels, classes, rng);
        head.Add(classifier);
        for (int k = 1; head[^1].OutputShape.Height < input.Height; k++)
            head.Add(new Upsample2x($"head_up{k}", head[^1].OutputShape, compute));
        return new SegmentationModel(spec, input, classes, encoder, decoder, head, compute);
    }

    /// <summary>
    /// The encoder of an encoder-decoder body, stage by stage: stage i (from 0) starts with a MaxPool2x2 named
    /// <paramref name="poolName"/>(i) when i > 0, then <paramref name="addBlocks"/>(stage, shape after the pool, i)
    /// appends its convolution blocks. So stage i sees 1/2^i of the input.
    /// </summary>
    internal static List<IReadOnlyList<Layer>> Encoder(SampleShape input, int stages, Func<int, string> poolName,
        Action<List<Layer>, SampleShape, int> addBlocks, CpuCompute compute)
    {
        var encoder = new List<IReadOnlyList<Layer>>();
        var shape = input;
        for (int i = 0; i < stages; i++)
        {
            var stage = new List<Layer>();
            if (i > 0) stage.Add(new MaxPool2d(poolName(i), shape, 2, compute));
            addBlocks(stage, stage.Count > 0 ? stage[^1].OutputShape : shape, i);
            encoder.Add(stage);
            shape = stage[^1].OutputShape;
        }
        return encoder;
    }

    /// <summary>
    /// The decoder steps from the bottleneck back to encoder stage <paramref name="lowestSkip"/> (0: the input's
    /// resolution), deepest first: per skip, a bilinear Upsample2x named dec{n}_up, the join with encoder stage n, and
    /// <paramref name="convs"/> ConvBlocks of that stage's width named dec{n}, dec{n}b, ... (n = skip + 1).
    /// </summary>
    internal static List<EncoderDecoder.DecoderStage> Decoder(IReadOnlyList<IReadOnlyList<Layer>> encoder, IReadOnlyList<int> widths, int convs,
        int lowestSkip, CpuCompute compute, Rng rng, bool batchNorm = true)
    {
        var decoder = new List<EncoderDecoder.DecoderStage>();
        var shape = encoder[^1][^1].OutputShape;
        for (int skip = encoder.Count - 2; skip >= lowestSkip; skip--)
        {
            var up = new Upsample2x($"dec{skip + 1}_up", shape, compute);
            var concat = new ChannelConcat($"dec{skip + 1}_concat", up.OutputShape, encoder[skip][^1].OutputShape);
            var block = new List<Layer>();
            ConvBlocks(block, $"dec{skip + 1}", concat.OutputShape, widths[skip], convs, compute, rng, batchNorm);
            decoder.Add(new EncoderDecoder.DecoderStage(up, concat, block, skip));
            shape = block[^1].OutputShape;
        }
        return decoder;
    }

    /// <summary><paramref name="count"/> ConvBlocks of one width, named PREFIX, PREFIXb, PREFIXc, ... (<see cref="StageDepth.Suffix"/>).</summary>
    internal static void ConvBlocks(List<Layer> layers, string prefix, SampleShape input, int width, int count, CpuCompute compute, Rng rng,
        bool batchNorm = true)
    {
        for (int k = 0; k < count; k++)
            ConvBlock(layers, prefix + StageDepth.Suffix(k), k == 0 ? input : layers[^1].OutputShape, width, compute, rng, batchNorm);
    }

    /// <summary>Conv3x3 (padding 1) - BatchNorm2d - ReLU (<see cref="ModelBuilder.AddConvBlock"/>), named PREFIX_conv, PREFIX_bn, PREFIX_relu.</summary>
    private static void ConvBlock(List<Layer> layers, string prefix, SampleShape input, int width, CpuCompute compute, Rng rng, bool batchNorm) =>
        ModelBuilder.AddConvBlock(layers.Add, input, width, $"{prefix}_conv", $"{prefix}_bn", $"{prefix}_relu", batchNorm, compute, rng);
}
