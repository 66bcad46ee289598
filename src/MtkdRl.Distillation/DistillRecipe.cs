using System.Text.Json.Serialization;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Strategies;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>
/// Everything that decides a distillation run, so a checkpoint can tell whether `--resume` with the options at
/// hand continues the same run. The learning rate follows a per-step cosine from <see cref="LearningRate"/>
/// to 0 over all epochs. The backend and thread count are left out: they change speed, not the run
/// (backends agree to rounding).
/// </summary>
public sealed record DistillRecipe
{
    /// <summary>
    /// The student's architecture (ModelSpec syntax). Two hidden layers: on full Fashion-MNIST a one-layer mlp:64
    /// gains nothing measurable from the default pool within the epochs measured, mlp:128x64 gains a little
    /// (docs/RESULTS.md).
    /// </summary>
    public string Student { get; init; } = "mlp:128x64";

    /// <summary>Weighting strategy (StrategyCatalog name).</summary>
    public string Strategy { get; init; } = "aver";

    /// <summary>`fixed` weights, one per teacher ("1,2,1").</summary>
    public string? FixedWeights { get; init; }

    /// <summary>mtkd-rl-paper: learn the mixing factors of its three weight terms.</summary>
    public bool Dynamic { get; init; }

    /// <summary>
    /// ebkd and mtkd-rl-paper: true, weight rows that sum to 1, as every other strategy's do; false, their reference
    /// code's scale, K-1 (ebkd) and K (the paper agent's first epoch, every weight 1); null, each one's default
    /// (<see cref="UsesUnitRows"/>). A run's own recipe (<see cref="ForStrategy"/>) holds the value it ran with.
    /// </summary>
    public bool? UnitRows { get; init; }

    /// <summary>mtkd-rl-ppo reward: "paper" (the loss terms of the same pass), "probe" (the student's improvement on a held-out
    /// batch) or "teacher" (how well the weighted teachers know the label).</summary>
    public string Reward { get; init; } = DefaultReward;

    /// <summary>The agents (mtkd-rl-ppo, mtkd-rl-paper) can give a row less distillation and its label more say: a (K+1)-th
    /// "labels" slot in the PPO agent's weights (<see cref="PpoConfig.LabelsSlot"/>), a labels gate in the paper agent's
    /// (<see cref="PaperAgentConfig.BackOff"/>). True or false for both; null, each one's default (<see cref="BacksOff"/>).
    /// A run's own recipe (<see cref="ForStrategy"/>) holds the value it ran with.</summary>
    public bool? BackOff { get; init; }

    /// <summary>
    /// Whether this recipe's strategy backs off: as asked, else by default the PPO agent does and the paper agent does
    /// not. The PPO agent is this tool's own, and on a pool of noise it otherwise loses two points to the student alone
    /// while backing off costs it nothing measurable on strong pools; the paper agent keeps the published design unless
    /// asked (docs/RESULTS.md, "Defaults of the two agents").
    /// </summary>
    [JsonIgnore]
    public bool BacksOff => IsAgent(Strategy) && (BackOff ?? Strategy == PpoAgent.CatalogName);

    /// <summary>
    /// Whether this recipe's strategy weighs rows that sum to 1: as asked, else by default the paper agent does (its
    /// reference first epoch, every weight 1, pulls K times aver's weight while the learning rate is highest and cost it
    /// 0.2-0.8 points against the student alone, docs/RESULTS.md) and ebkd, a rule of the literature, keeps its
    /// reference scale.
    /// </summary>
    [JsonIgnore]
    public bool UsesUnitRows => HasRowScale(Strategy) && (UnitRows ?? Strategy == PaperAgent.CatalogName);

    /// <summary>The reward runs use unless told otherwise (and the value every other strategy's recipe holds).</summary>
    public const string DefaultReward = "teacher";

    public int Epochs { get; init; } = DefaultEpochs;

    /// <summary>Epochs of a run when none are asked for: at least this many, more on a small dataset (<see cref="WithMinSteps"/>).</summary>
    public const int DefaultEpochs = 10;

    /// <summary>
    /// Optimiser steps a run makes at least when its epochs are not given: 1,200, which the default 10 epochs already
    /// make on 20,000 rows or more (the full Fashion-MNIST makes 4,680), so only smaller datasets get more epochs.
    /// Distillation is patient: a student that matches its teachers' soft targets keeps gaining long after it fits its
    /// labels, the student alone does not. On the 8x8 digits 600 steps put the strategies 0.61-0.78 points above the
    /// student alone (p 0.025-0.079); 1,200 put them 0.67-1.06 points above it (p 0.0002-0.022); measured in
    /// docs/RESULTS.md, "Steps a small dataset gets".
    /// </summary>
    public const int DefaultMinSteps = 1200;

    /// <summary>
    /// The recipe with enough epochs for <paramref name="minSteps"/> steps over <paramref name="trainRows"/> rows
    /// (batches of <see cref="BatchSize"/>, the ragged last one dropped); unchanged when it already makes them or
    /// <paramref name="minSteps"/> is 0. A student trained for a hundred steps has not learnt what its labels say,
    /// and distillation then only adds noise to an unfinished run.
    /// </summary>
    public DistillRecipe WithMinSteps(int minSteps, int trainRows)
    {
        if (minSteps < 0) throw new MtkdInputException($"--min-steps must be >= 0 (got {minSteps})");
        if (minSteps == 0 || BatchSize < 1) return this;
        int perEpoch = Math.Max(1, trainRows / BatchSize);
        int epochs = (int)Math.Min(int.MaxValue, (minSteps + (long)perEpoch - 1) / perEpoch);
        return epochs > Epochs ? this with { Epochs = epochs } : this;
    }
    public int BatchSize { get; init; } = 128;

    /// <summary>
    /// "sgd" (momentum, Nesterov) or "adam". Adam by default: the KD gradient on the logits is about T times the
    /// cross-entropy's, which SGD at a rate tuned for CE alone does not tolerate (lr 0.05 trails the student alone),
    /// while Adam's per-parameter scaling absorbs it.
    /// </summary>
    public string Optimizer { get; init; } = "adam";
    public double LearningRate { get; init; } = 3e-3;
    public double Momentum { get; init; } = 0.9;
    public double WeightDecay { get; init; } = 5e-4;

    /// <summary>Logit-KD temperature T (<see cref="DefaultTemperature"/> unless given; <see cref="DenseTemperature"/> on scenes).</summary>
    public float Temperature { get; init; } = DefaultTemperature;

    /// <summary>T for classification, as in the paper.</summary>
    public const float DefaultTemperature = 4f;

    /// <summary>
    /// T for segmentation and detection, where the KL is taken per pixel or location, as pixel-wise distillation
    /// usually does. Measured on scenes from the full Fashion-MNIST (5 seeds): aver at T=4 costs the student 3.6
    /// mIoU points, at T=1 it gains; on the demo's detection scenes T=1 is ahead of T=4 too (docs/RESULTS.md).
    /// </summary>
    public const float DenseTemperature = 1f;

    /// <summary>
    /// Feature-KD coefficient beta. 0.5 rather than 5: the feature term regresses every teacher's embedding (the
    /// linear teacher's is the image itself) from the student's narrow penultimate layer, and at 5 it outweighs
    /// the logit terms and costs accuracy (docs/RESULTS.md).
    /// </summary>
    public float Beta { get; init; } = 0.5f;

    /// <summary>Rows held out of training for the probe reward (0 unless Reward is "probe").</summary>
    public int ProbeRows { get; init; } = 256;

    public ulong Seed { get; init; } = 1;

    /// <summary>Run the pool's teachers on every batch instead of reading the cache (needed for augmentation).</summary>
    public bool LiveTeachers { get; init; }

    /// <summary>
    /// Dense tasks (scenes): the strategy weighs every pixel (or detector location) on its own instead of once per image
    /// (<see cref="MtkdRl.Strategies.PerSampleWeighting"/>). Left out of the JSON when off, so classification recipes read as before.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool PerPixelWeights { get; init; }

    /// <summary>
    /// Dense tasks: lambda of the channel-wise KD term (each class channel's spatial softmax at
    /// <see cref="ChannelTemperature"/> against the teachers', docs/SCENES.md), added to the pixel KD; 0 (the
    /// default): none. Left out of the JSON when 0, so earlier recipes read as before.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public float ChannelKdWeight { get; init; }

    /// <summary>tau of the channel-wise KD term; null: <see cref="DefaultChannelTemperature"/>, as its authors use for segmentation.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? ChannelTemperature { get; init; }

    public const float DefaultChannelTemperature = 4f;

    /// <summary>The channel-wise KD term's (lambda, tau), or null when it is off.</summary>
    [JsonIgnore]
    public (float Weight, float Temperature)? ChannelKd => ChannelKdWeight > 0 ? (ChannelKdWeight, ChannelTemperature ?? DefaultChannelTemperature) : null;

    /// <summary>Random-crop padding in pixels (0: none); needs live teachers.</summary>
    public int CropPadding { get; init; }

    /// <summary>Random horizontal flips; needs live teachers.</summary>
    public bool HorizontalFlip { get; init; }

    /// <summary>a_ce: weight of the student's cross-entropy with the labels.</summary>
    public float CeWeight { get; init; } = 1f;

    /// <summary>a_kd: weight of the weighted logit-KD term (the T^2 factor is inside the op's KL).</summary>
    public float KdWeight { get; init; } = 1f;

    /// <summary>The logit divergence as `--kd-loss` writes it, parameters included (DistillLossCatalog, docs/DESIGN.md §7).</summary>
    public string KdLoss { get; init; } = "kl";

    /// <summary>The feature loss as `--feature-loss` writes it.</summary>
    public string FeatureLoss { get; init; } = "mse";

    /// <summary>
    /// The recipe with the losses of `--kd-loss` and `--feature-loss` (null: the default), each stored in the catalog's
    /// spelling so "jsd" and "jsd:beta=0.5" are one run; throws a one-line error for an unknown loss or parameter.
    /// </summary>
    public DistillRecipe WithLosses(string? kdLoss, string? featureLoss)
    {
        var loss = DistillLossCatalog.Parse(kdLoss, featureLoss);
        return this with { KdLoss = loss.KdName, FeatureLoss = loss.FeatureName };
    }

    [JsonIgnore]
    public DistillHyper Hyper => new(Temperature, CeWeight, KdWeight, Beta, 1e-8f, DistillLossCatalog.Parse(KdLoss, FeatureLoss));

    [JsonIgnore]
    public bool UsesProbe => Strategy == PpoAgent.CatalogName && Reward == "probe";

    /// <summary>
    /// This recipe as a template for one strategy and seed of a comparison: the options that belong to other
    /// strategies (--dynamic, --unit-rows, --reward, --fixed-weights, --back-off) are reset for the strategies they do not
    /// apply to and the agents' defaults are settled, so one set of command-line options can drive every run, and a run's
    /// recipe holds only what shaped it.
    /// </summary>
    public DistillRecipe ForStrategy(string strategy, ulong seed)
    {
        var run = this with { Strategy = strategy, Seed = seed };
        return run with
        {
            Dynamic = Dynamic && strategy == PaperAgent.CatalogName,
            UnitRows = run.UsesUnitRows,
            Reward = strategy == PpoAgent.CatalogName ? Reward : DefaultReward,
            BackOff = run.BacksOff,
            FixedWeights = strategy == "fixed" ? FixedWeights : null,
        };
    }

    private static bool IsAgent(string strategy) => strategy is PpoAgent.CatalogName or PaperAgent.CatalogName;

    /// <summary>The strategies whose reference code scales their rows otherwise than to 1 (--unit-rows, --reference-rows).</summary>
    private static bool HasRowScale(string strategy) => strategy is "ebkd" or PaperAgent.CatalogName;

    public ModelSpec ParsedStudent() => ModelSpec.Parse(Student, "student");

    /// <summary>Throws a one-line error for a value no run could use (unknown strategy, spec, optimiser, ...).</summary>
    public void Validate()
    {
        ParsedStudent();
        if (!StrategyCatalog.Names.Contains(Strategy))
            throw new MtkdInputException($"unknown strategy '{Strategy}' (known: {string.Join(", ", StrategyCatalog.Names)})");
        if (Epochs < 1) throw new MtkdInputException($"epochs must be at least 1 (got {Epochs})");
        if (BatchSize < 2) throw new MtkdInputException($"batch size must be at least 2 (got {BatchSize})");
        if (Optimizer is not ("sgd" or "adam")) throw new MtkdInputException($"unknown optimizer '{Optimizer}' (known: sgd, adam)");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new MtkdInputException($"learning rate must be positive (got {LearningRate})");
        if (Reward is not ("paper" or "probe" or "teacher")) throw new MtkdInputException($"unknown reward '{Reward}' (known: paper, probe, teacher)");
        if (Reward != DefaultReward && Strategy != PpoAgent.CatalogName)
            throw new MtkdInputException($"--reward {Reward} applies to {PpoAgent.CatalogName} only");
        if (BackOff == true && !IsAgent(Strategy))
            throw new MtkdInputException($"--back-off applies to {PpoAgent.CatalogName} and {PaperAgent.CatalogName} only");
        if (UsesProbe && ProbeRows < 1) throw new MtkdInputException($"probe rows must be at least 1 (got {ProbeRows})");
        if (UnitRows == true && !HasRowScale(Strategy))
            throw new MtkdInputException($"--unit-rows applies to ebkd and {PaperAgent.CatalogName} only");
        if (Dynamic && Strategy != PaperAgent.CatalogName)
            throw new MtkdInputException($"--dynamic applies to {PaperAgent.CatalogName} only");
        if (CropPadding < 0) throw new MtkdInputException($"crop padding must be >= 0 (got {CropPadding})");
        if (!(ChannelKdWeight >= 0) || !float.IsFinite(ChannelKdWeight)) throw new MtkdInputException($"--channel-kd must be a finite weight >= 0 (got {ChannelKdWeight})");
        if (ChannelTemperature is { } tau && (!(tau > 0) || !float.IsFinite(tau))) throw new MtkdInputException($"--channel-temperature must be positive and finite (got {ChannelTemperature})");
        if ((CropPadding > 0 || HorizontalFlip) && !LiveTeachers)
            throw new MtkdInputException("--crop and --flip need --live-teachers: cached teacher outputs belong to the unaugmented images");
        Hyper.Validate();
    }

    /// <summary>
    /// An agent that backs off starts backed off: the labels' logit starts this far above a teacher's (a share of
    /// e^4 / (e^4 + K), 96 % at K = 2), and the per-batch gate step brings the teachers in within a few batches
    /// wherever they know the labels better than the student (docs/STRATEGIES.md has the measurements).
    /// </summary>
    public const float BackOffStartLogit = 4f;

    public StrategyOptions StrategyOptions(int classes, IReadOnlyList<int> widths) => new()
    {
        FixedWeights = FixedWeights,
        Classes = classes,
        EmbeddingWidths = widths,
        Seed = Seed ^ 0x9E37_79B9_7F4A_7C15UL,
        UnitRows = UsesUnitRows,
        Paper = new PaperAgentConfig { Dynamic = Dynamic, BackOff = BacksOff, LabelsInitialLogit = BackOffStartLogit },
        Ppo = new PpoConfig
        {
            Reward = Reward switch { "probe" => PpoRewardKind.Probe, "teacher" => PpoRewardKind.TeacherFit, _ => PpoRewardKind.Paper },
            LabelsSlot = BacksOff,
            // Backing off is one decision about the whole pool that must be settled in the first epochs: four times
            // the rows per batch give the agent four times the updates (measured on a pool of noise: the teachers'
            // share falls to 0.16 in six epochs, against 0.79 at the default 8 rows).
            RowsPerBatch = BacksOff ? 32 : new PpoConfig().RowsPerBatch,
            LabelsInitialLogit = BackOffStartLogit,
        },
    };

    internal Optimizer CreateOptimizer(IEnumerable<Parameter> parameters) => Optimizer == "adam"
        ? new Adam(parameters, LearningRate, weightDecay: WeightDecay)
        : new Sgd(parameters, LearningRate, Momentum, nesterov: Momentum > 0, weightDecay: WeightDecay);

    internal LearningRateSchedule CreateSchedule(int batchesPerEpoch) =>
        new CosineSchedule(LearningRate, Math.Max(1L, (long)Epochs * batchesPerEpoch));
}
