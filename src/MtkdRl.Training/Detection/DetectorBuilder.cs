using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>Turns a det <see cref="ModelSpec"/> into a <see cref="Detector"/>, initialised from an <see cref="Rng"/>.</summary>
internal static class DetectorBuilder
{
    /// <summary>The background's prior probability at initialisation: the class head's bias starts there.</summary>
    public const double BackgroundPrior = 0.9;

    public static Detector Build(ModelSpec spec, SampleShape input, int classes, CpuCompute compute, Rng rng)
    {
        if (spec.Family != ModelFamily.Det) throw new MtkdInputException($"model '{spec}': not a detector (a det spec builds one)");
        if (classes < 1) throw new MtkdInputException($"detector '{spec}': needs at least 1 object class (got {classes})");
        if (input.IsVector) throw new MtkdInputException($"detector '{spec}': needs image samples (Ch x H x W), got vectors of {input}");
        int stride = DetectorSpecOptions.Stride(spec);
        if (input.Height % stride != 0 || input.Width % stride != 0)
            throw new MtkdInputException($"detector '{spec}': images of {input.Width}x{input.Height} are not a multiple of its output stride {stride}");
        var body = spec.SkipDecoder ? EncoderDecoderBody(spec, input, stride, compute, rng) : PlainBody(spec, input, stride, compute, rng);
        var shape = body.OutputShape;
        var tower = new List<Layer>();
        SegmentationBuilder.ConvBlocks(tower, "cls_tower", shape, shape.Channels, spec.HeadBlocks, compute, rng, spec.BatchNorm);
        var classHead = new Conv2d("cls", shape, classes + 1, 3, compute, stride: 1, padding: 1, bias: true);
        Initializers.XavierUniform(classHead.Weight.Value, shape.Channels * 9, classes + 1, rng);
        classHead.Bias!.Value[0] = (float)Math.Log(BackgroundPrior * classes / (1 - BackgroundPrior));
        var boxHead = new Conv2d("box", shape, BoxCoding.Outputs, 3, compute, stride: 1, padding: 1, bias: true);
        for (int i = 0; i < boxHead.Weight.Value.Length; i++) boxHead.Weight.Value[i] = (float)(0.01 * rng.NextGaussian());
        return new Detector(spec, input, classes, stride, body, tower, classHead, boxHead, new GlobalAvgPool("gap", shape, compute));
    }

    /// <summary>Stages of cN blocks (conv{n}, bn{n}, relu{n}; conv{n}b, ...), a MaxPool2x2 (pool{n}) after stage n while the stride is not reached.</summary>
    private static EncoderDecoder PlainBody(ModelSpec spec, SampleShape input, int stride, CpuCompute compute, Rng rng)
    {
        var body = new List<Layer>();
        var shape = input;
        int reached = 1;
        void Add(Layer layer)
        {
            body.Add(layer);
            shape = layer.OutputShape;
        }
        for (int i = 0; i < spec.Widths.Count; i++)
        {
            int n = i + 1;
            for (int k = 0; k < spec.ConvsPerStage; k++)
                ModelBuilder.AddConvStage(Add, shape, n, spec.Widths[i], spec.BatchNorm, compute, rng, StageDepth.Suffix(k));
            if (reached < stride && i < spec.Widths.Count - 1)
            {
                Add(new MaxPool2d($"pool{n}", shape, 2, compute));
                reached *= 2;
            }
        }
        return new EncoderDecoder([body], []);
    }

    /// <summary>
    /// Option u: the same stages, named the same, with a pool after every stage but the last (so stage n sees
    /// 1/2^(n-1) of the image), then the U-Net decoder steps (<see cref="SegmentationBuilder.Decoder"/>) from the
    /// bottleneck back to the stage at the output stride.
    /// </summary>
    private static EncoderDecoder EncoderDecoderBody(ModelSpec spec, SampleShape input, int stride, CpuCompute compute, Rng rng)
    {
        int stages = spec.Widths.Count, factor = 1 << (stages - 1);
        if (input.Height % factor != 0 || input.Width % factor != 0)
            throw new MtkdInputException($"detector '{spec}': its encoder halves the image {stages - 1} times, so images of {input.Width}x{input.Height} must be multiples of {factor}");
        var encoder = SegmentationBuilder.Encoder(input, stages, i => $"pool{i}", (stage, shape, i) =>
        {
            for (int k = 0; k < spec.ConvsPerStage; k++)
                ModelBuilder.AddConvStage(stage.Add, k == 0 ? shape : stage[^1].OutputShape, i + 1, spec.Widths[i], spec.BatchNorm, compute, rng,
                    StageDepth.Suffix(k));
        }, compute);
        int level = System.Numerics.BitOperations.Log2((uint)stride);
        return new EncoderDecoder(encoder, SegmentationBuilder.Decoder(encoder, spec.Widths, spec.ConvsPerStage, level, compute, rng, spec.BatchNorm));
    }
}
