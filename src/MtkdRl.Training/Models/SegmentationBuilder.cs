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

        var encoder = new List<IReadOnlyList<Layer>>();
        var shape = input;
        for (int i = 0; i < stages; i++)
        {
            var stage = new List<Layer>();
            if (i > 0) stage.Add(new MaxPool2d($"enc{i + 1}_pool", shape, 2, compute));
            ConvBlocks(stage, $"enc{i + 1}", stage.Count > 0 ? stage[^1].OutputShape : shape, spec.Widths[i], spec.ConvsPerStage, compute, rng);
            encoder.Add(stage);
            shape = stage[^1].OutputShape;
        }

        var decoder = new List<SegmentationModel.DecoderStage>();
        if (spec.Family == ModelFamily.Unet)
            for (int skip = stages - 2; skip >= 0; skip--)
            {
                var up = new Upsample2x($"dec{skip + 1}_up", shape, compute);
                var concat = new ChannelConcat($"dec{skip + 1}_concat", up.OutputShape, encoder[skip][^1].OutputShape);
                var block = new List<Layer>();
                ConvBlocks(block, $"dec{skip + 1}", concat.OutputShape, spec.Widths[skip], spec.ConvsPerStage, compute, rng);
                decoder.Add(new SegmentationModel.DecoderStage(up, concat, block, skip));
                shape = block[^1].OutputShape;
            }

        var head = new List<Layer>();
        var classifier = new Conv2d("head", shape, classes, 1, compute, stride: 1, padding: 0, bias: true);
        Initializers.XavierUniform(classifier.Weight.Value, shape.Channels, classes, rng);
        head.Add(classifier);
        for (int k = 1; head[^1].OutputShape.Height < input.Height; k++)
            head.Add(new Upsample2x($"head_up{k}", head[^1].OutputShape, compute));
        return new SegmentationModel(spec, input, classes, encoder, decoder, head, compute);
    }

    /// <summary><paramref name="count"/> ConvBlocks of one width, named PREFIX, PREFIXb, PREFIXc, ... (<see cref="StageDepth.Suffix"/>).</summary>
    private static void ConvBlocks(List<Layer> layers, string prefix, SampleShape input, int width, int count, CpuCompute compute, Rng rng)
    {
        for (int k = 0; k < count; k++)
            ConvBlock(layers, prefix + StageDepth.Suffix(k), k == 0 ? input : layers[^1].OutputShape, width, compute, rng);
    }

    /// <summary>Conv3x3 (padding 1, no bias) - BatchNorm2d - ReLU, named PREFIX_conv, PREFIX_bn, PREFIX_relu.</summary>
    private static void ConvBlock(List<Layer> layers, string prefix, SampleShape input, int width, CpuCompute compute, Rng rng)
    {
        var conv = new Conv2d($"{prefix}_conv", input, width, 3, compute, stride: 1, padding: 1, bias: false);
        Initializers.KaimingNormal(conv.Weight.Value, input.Channels * 9, rng);
        layers.Add(conv);
        layers.Add(new BatchNorm($"{prefix}_bn", conv.OutputShape, compute));
        layers.Add(new ReLU($"{prefix}_relu", conv.OutputShape, compute));
    }
}
