using MtkdRl.Core;
using MtkdRl.Training;

namespace MtkdRl.Teachers;

/// <summary>
/// Everything that decides how a model is trained, so a checkpoint can say whether resuming it with the
/// options at hand would continue the same run. The learning rate follows a per-step cosine from
/// <see cref="LearningRate"/> to 0 over all epochs, after a linear warm-up of <see cref="WarmupEpochs"/>.
/// </summary>
public sealed record TrainingRecipe
{
    public string Spec { get; init; } = "mlp:256";
    public int Epochs { get; init; } = 5;
    public int BatchSize { get; init; } = 128;

    /// <summary>"sgd" (momentum, Nesterov) or "adam".</summary>
    public string Optimizer { get; init; } = "sgd";
    public double LearningRate { get; init; } = 0.05;
    public double Momentum { get; init; } = 0.9;
    public double WeightDecay { get; init; } = 5e-4;
    public int WarmupEpochs { get; init; }

    /// <summary>Random-crop padding in pixels (0: no crop).</summary>
    public int CropPadding { get; init; }
    public bool HorizontalFlip { get; init; }

    /// <summary>Train on this many randomly chosen training rows (0: all): a deliberately weaker teacher.</summary>
    public int SubsetSize { get; init; }

    /// <summary>
    /// Train only on rows of these classes, a comma list ("0,2,4,6"; null: every class): a specialist, which still
    /// outputs every class but has only seen its own and is confidently wrong on the others. Text, not an array,
    /// so two recipes compare by value.
    /// </summary>
    public string? Classes { get; init; }

    public ulong Seed { get; init; } = 1;

    /// <summary>
    /// A classification checkpoint whose convolution stages initialise a segmentation or detection network
    /// (<see cref="BackboneInit"/>; null: random initialisation), as a pretrained backbone does.
    /// </summary>
    public string? Backbone { get; init; }

    /// <summary>The <see cref="Classes"/> list parsed and checked against the class count (null: every class).</summary>
    public int[]? ParsedClasses(string who, int classCount)
    {
        if (Classes is null) return null;
        var parts = Classes.Split(',', StringSplitOptions.TrimEntries);
        var classes = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], out classes[i]) || classes[i] < 0 || classes[i] >= classCount)
                throw new MtkdInputException($"{who}: class '{parts[i]}' is not one of 0..{classCount - 1}");
        }
        if (classes.Distinct().Count() != classes.Length) throw new MtkdInputException($"{who}: classes '{Classes}' repeat a class");
        return classes;
    }

    public ModelSpec ParsedSpec(string role = "model") => ModelSpec.Parse(Spec, role);

    /// <summary>Throws a one-line error for a value no training could use.</summary>
    public void Validate(string who)
    {
        var spec = ParsedSpec(who);
        if (Epochs < 1) throw new MtkdInputException($"{who}: epochs must be at least 1 (got {Epochs})");
        if (BatchSize < 1) throw new MtkdInputException($"{who}: batch size must be at least 1 (got {BatchSize})");
        if (Optimizer is not ("sgd" or "adam")) throw new MtkdInputException($"{who}: unknown optimizer '{Optimizer}' (known: sgd, adam)");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new MtkdInputException($"{who}: learning rate must be positive (got {LearningRate})");
        if (WarmupEpochs < 0 || WarmupEpochs >= Epochs) throw new MtkdInputException($"{who}: warm-up epochs must lie in 0..{Epochs - 1} (got {WarmupEpochs})");
        if (SubsetSize < 0) throw new MtkdInputException($"{who}: subset size must be >= 0 (got {SubsetSize})");
        if (Backbone is not null && spec.Family is not (ModelFamily.Unet or ModelFamily.Fcn or ModelFamily.Det))
            throw new MtkdInputException($"{who}: a backbone initialises a segmentation or detection network (unet, fcn, det), not {spec}");
    }

    internal Optimizer CreateOptimizer(Model model) => CreateOptimizer(model.Parameters);

    internal Optimizer CreateOptimizer(IReadOnlyList<Parameter> parameters) => Optimizer == "adam"
        ? new Adam(parameters, LearningRate, weightDecay: WeightDecay)
        : new Sgd(parameters, LearningRate, Momentum, nesterov: Momentum > 0, weightDecay: WeightDecay);

    internal LearningRateSchedule CreateSchedule(int batchesPerEpoch)
    {
        long total = (long)Epochs * batchesPerEpoch, warmup = (long)WarmupEpochs * batchesPerEpoch;
        var cosine = new CosineSchedule(LearningRate, Math.Max(1, total - warmup), start: warmup);
        return warmup > 0 ? new WarmupSchedule(warmup, cosine) : cosine;
    }
}
