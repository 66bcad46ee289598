using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>Turns a <see cref="ModelSpec"/> into layers, initialised from an <see cref="Rng"/>.</summary>
internal static class ModelBuilder
{
    public static Model Build(ModelSpec spec, SampleShape input, int classes, CpuCompute compute, Rng rng)
    {
        if (classes < 2) throw new MtkdInputException($"model '{spec}': needs at least 2 classes (got {classes})");
        if (spec.IsSegmentation) throw new MtkdInputException($"model '{spec}': a segmentation network gives per-pixel logits, not a classifier's (use it with a scenes dataset)");
        var body = new List<Layer>();
        var shape = input;

        void Add(Layer layer)
        {
            body.Add(layer);
            shape = layer.OutputShape;
        }

        switch (spec.Family)
        {
            case ModelFamily.Linear:
                break;
            case ModelFamily.Mlp:
                for (int i = 0; i < spec.Widths.Count; i++)
                {
                    int n = i + 1;
                    var fc = new Linear($"fc{n}", shape, spec.Widths[i], compute, bias: !spec.BatchNorm);
                    Initializers.KaimingNormal(fc.Weight.Value, fc.InFeatures, rng);
                    Add(fc);
                    if (spec.BatchNorm) Add(new BatchNorm($"bn{n}", shape, compute));
                    Add(new ReLU($"relu{n}", shape, compute));
                }
                break;
            case ModelFamily.Cnn:
                if (input.IsVector)
                    throw new MtkdInputException($"model '{spec}': a cnn needs image samples (Ch x H x W), got vectors of {input}");
                for (int i = 0; i < spec.Widths.Count; i++)
                {
                    int n = i + 1;
                    for (int k = 0; k < spec.ConvsPerStage; k++)
                        AddConvStage(Add, shape, n, spec.Widths[i], spec.BatchNorm, compute, rng, StageDepth.Suffix(k));
                    if (shape.Height >= 2 && shape.Width >= 2) Add(new MaxPool2d($"pool{n}", shape, 2, compute));
                }
                Add(spec.GlobalPool ? new GlobalAvgPool("gap", shape, compute) : new Flatten("flatten", shape));
                if (spec.DenseWidth > 0)
                {
                    var fc = new Linear("fc", shape, spec.DenseWidth, compute);
                    Initializers.KaimingNormal(fc.Weight.Value, fc.InFeatures, rng);
                    Add(fc);
                    Add(new ReLU("relu_fc", shape, compute));
                }
                break;
            case ModelFamily.Det:
                throw new MtkdInputException($"model '{spec}': a det spec is a detector, not a classifier (its task is detection)");
            default:
                throw new MtkdInputException($"model '{spec}': unknown family {spec.Family}");
        }

        var embedding = shape;
        var head = new List<Layer>();
        if (spec.Dropout > 0) head.Add(new Dropout("drop", embedding, spec.Dropout, rng.Fork()));
        var classifier = new Linear("head", embedding, classes, compute);
        Initializers.XavierUniform(classifier.Weight.Value, classifier.InFeatures, classes, rng);
        head.Add(classifier);
        return new Model(spec, input, classes, body, head);
    }

    /// <summary>
    /// Stage <paramref name="n"/>'s block, named conv{n}{suffix}, bn{n}{suffix}, relu{n}{suffix} (<see cref="AddConvBlock"/>);
    /// <paramref name="input"/> the shape the layers added so far output.
    /// </summary>
    internal static void AddConvStage(Action<Layer> add, SampleShape input, int n, int width, bool batchNorm, CpuCompute compute, Rng rng,
        string suffix = "") =>
        AddConvBlock(add, input, width, $"conv{n}{suffix}", $"bn{n}{suffix}", $"relu{n}{suffix}", batchNorm, compute, rng);

    /// <summary>
    /// Conv3x3 (padding 1, Kaiming-initialised; a bias only without BatchNorm), then BatchNorm2d when
    /// <paramref name="batchNorm"/>, then ReLU, each handed to <paramref name="add"/> under the names given.
    /// </summary>
    internal static void AddConvBlock(Action<Layer> add, SampleShape input, int width, string convName, string bnName, string reluName, bool batchNorm,
        CpuCompute compute, Rng rng)
    {
        var conv = new Conv2d(convName, input, width, 3, compute, stride: 1, padding: 1, bias: !batchNorm);
        Initializers.KaimingNormal(conv.Weight.Value, input.Channels * 9, rng);
        add(conv);
        if (batchNorm) add(new BatchNorm(bnName, conv.OutputShape, compute));
        add(new ReLU(reluName, conv.OutputShape, compute));
    }
}
