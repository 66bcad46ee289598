using CommandLine;
using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Distillation;
using MtkdRl.Strategies;
using Spectre.Console;

namespace MtkdRl.Cli.Distill;

/// <summary>The options `distill` and `compare` share: data, pool, student, training settings, backend.</summary>
public abstract class DistillOptions
{
    [Option("data", HelpText = "Dataset folder (default: the full Fashion-MNIST when installed, else the slice in data/). Must be the pool's dataset.")]
    public string? Data { get; set; }

    [Option("pool", Required = true, HelpText = "Teacher pool folder with its cache (`mtkd teachers train` and `teachers cache`).")]
    public string Pool { get; set; } = "";

    [Option("student", Default = "mlp:128x64", HelpText = "Student architecture, e.g. mlp:128x64, mlp:64, cnn:16,fc64, linear.")]
    public string Student { get; set; } = "mlp:128x64";

    [Option("epochs", HelpText = "Epochs (default: 10, or as many as --min-steps needs on a small dataset).")]
    public int? Epochs { get; set; }

    [Option("min-steps", Default = DistillRecipe.DefaultMinSteps, HelpText = "Without --epochs: train for at least this many steps (more epochs on a small dataset; 0: exactly 10 epochs).")]
    public int MinSteps { get; set; } = DistillRecipe.DefaultMinSteps;

    [Option("batch", Default = 128, HelpText = "Rows per step (the last partial batch of an epoch is dropped).")]
    public int Batch { get; set; } = 128;

    [Option("optimizer", Default = "adam", HelpText = "adam or sgd (momentum 0.9, Nesterov).")]
    public string Optimizer { get; set; } = "adam";

    [Option("lr", Default = 3e-3, HelpText = "Initial learning rate (cosine to 0 over the run).")]
    public double LearningRate { get; set; } = 3e-3;

    [Option("weight-decay", Default = 5e-4, HelpText = "Weight decay of the student's weights (Adam: an L2 term in the gradient, as PyTorch's Adam; SGD: the same).")]
    public double WeightDecay { get; set; } = 5e-4;

    [Option("channel-kd", Default = 0f, HelpText = "Scenes: weight lambda of channel-wise KD (each class channel's softmax over the pixels at --channel-temperature against the weighted teachers'), added to the pixel KD; 0: none.")]
    public float ChannelKd { get; set; }

    [Option("channel-temperature", HelpText = "Scenes: tau of --channel-kd (default: 4).")]
    public float? ChannelTemperature { get; set; }

    [Option("temperature", HelpText = "Logit-KD temperature T (default: 4; 1 on scenes, for segmentation and detection).")]
    public float? Temperature { get; set; }

    [Option("beta", Default = 0.5f, HelpText = "Feature-KD coefficient beta.")]
    public float Beta { get; set; } = 0.5f;

    [Option("ce-weight", Default = 1f, HelpText = "a_ce: weight of the cross-entropy with the labels.")]
    public float CeWeight { get; set; } = 1f;

    [Option("kd-weight", Default = 1f, HelpText = "a_kd: weight of the weighted logit-KD term (T^2 KL per teacher).")]
    public float KdWeight { get; set; } = 1f;

    [Option("kd-loss", HelpText = "Logit divergence of the KD term: kl (default), reverse-kl, jsd[:beta] (0.5), dkd[:alpha,beta] (1,8); parameters by position or name, e.g. dkd:alpha=1,beta=8.")]
    public string? KdLoss { get; set; }

    [Option("feature-loss", HelpText = "Feature loss: mse (default), cosine (1 - cos), smooth-l1.")]
    public string? FeatureLoss { get; set; }

    [Option("fixed-weights", HelpText = "fixed: one weight per teacher, e.g. 2,1,1,0.")]
    public string? FixedWeights { get; set; }

    [Option("dynamic", HelpText = "mtkd-rl-paper: learn the mixing factors of its three weight terms (compare applies it to mtkd-rl-paper only).")]
    public bool Dynamic { get; set; }

    [Option("unit-rows", HelpText = "ebkd and mtkd-rl-paper: weight rows summing to 1 like the other strategies'. The paper agent does by default; ebkd keeps its reference code's K-1 unless asked. compare applies it to those two only.")]
    public bool UnitRows { get; set; }

    [Option("reference-rows", HelpText = "ebkd and mtkd-rl-paper: their reference code's row sums, K-1 (ebkd) and K (the paper agent's first epoch, every weight 1).")]
    public bool ReferenceRows { get; set; }

    [Option("reward", Default = DistillRecipe.DefaultReward, HelpText = "mtkd-rl-ppo reward: teacher (how well the weighted teachers know the label), paper (loss terms of the same pass) or probe (improvement on a held-out batch). compare applies it to mtkd-rl-ppo only.")]
    public string Reward { get; set; } = DistillRecipe.DefaultReward;

    [Option("back-off", HelpText = "mtkd-rl-ppo and mtkd-rl-paper: a labels slot (PPO) or gate (paper) beside the teachers, so the agent can give rows (or the whole pool) less distillation where no teacher knows the label better than the student. The PPO agent has it by default, the paper agent only when asked. compare applies it to those two only.")]
    public bool BackOff { get; set; }

    [Option("no-back-off", HelpText = "mtkd-rl-ppo and mtkd-rl-paper: no labels slot or gate; every row's weights go to the teachers.")]
    public bool NoBackOff { get; set; }

    [Option("live-teachers", HelpText = "Run the pool's teachers on every batch instead of reading the cache (slower; needed for --crop/--flip).")]
    public bool LiveTeachers { get; set; }

    [Option("per-pixel-weights", HelpText = "Scenes (segmentation, detection): the strategy weighs every pixel or location on its own instead of once per image.")]
    public bool PerPixelWeights { get; set; }

    [Option("crop", Default = 0, HelpText = "Random-crop padding in pixels (needs --live-teachers).")]
    public int Crop { get; set; }

    [Option("flip", HelpText = "Random horizontal flips (needs --live-teachers).")]
    public bool Flip { get; set; }

    [Option("backend", Default = "native", HelpText = "Backend of the fused op (`mtkd info` lists them).")]
    public string Backend { get; set; } = "native";

    [Option("threads", Default = 0, HelpText = "CPU threads (0: every core).")]
    public int Threads { get; set; }

    /// <summary>The run's recipe; <paramref name="dense"/>: on scenes, whose default temperature is <see cref="DistillRecipe.DenseTemperature"/>.</summary>
    public DistillRecipe Recipe(string strategy, ulong seed, bool dense = false) => new DistillRecipe
    {
        Student = Student, Strategy = strategy, FixedWeights = FixedWeights, Dynamic = Dynamic, UnitRows = Either(UnitRows, ReferenceRows, "unit-rows", "reference-rows"), Reward = Reward,
        BackOff = Either(BackOff, NoBackOff, "back-off", "no-back-off"),
        Epochs = Epochs ?? DistillRecipe.DefaultEpochs, BatchSize = Batch, Optimizer = Optimizer, LearningRate = LearningRate, WeightDecay = WeightDecay,
        Temperature = Temperature ?? (dense ? DistillRecipe.DenseTemperature : DistillRecipe.DefaultTemperature), Beta = Beta, CeWeight = CeWeight, KdWeight = KdWeight, Seed = seed, LiveTeachers = LiveTeachers, CropPadding = Crop, HorizontalFlip = Flip,
        PerPixelWeights = PerPixelWeights, ChannelKdWeight = ChannelKd, ChannelTemperature = ChannelTemperature,
    }.WithLosses(KdLoss, FeatureLoss);

    /// <summary>true for --<paramref name="yes"/>, false for --<paramref name="no"/>, null (the strategy's default) for neither.</summary>
    private static bool? Either(bool on, bool off, string yes, string no) =>
        on && off ? throw new MtkdInputException($"--{yes} and --{no} contradict each other; give one") : on ? true : off ? false : null;

    /// <summary>The recipe's epochs for a dataset of <paramref name="trainRows"/> training rows: --epochs as given, else enough for --min-steps.</summary>
    public DistillRecipe ForData(DistillRecipe recipe, int trainRows) => Epochs is null ? recipe.WithMinSteps(MinSteps, trainRows) : recipe;

    /// <summary>The op's backend; --threads bounds the native one's team as it bounds the student's.</summary>
    public IDistillBackend CreateBackend() => BackendCatalog.Create(Backend, Threads);

    /// <summary>On scenes: the pool's dense teacher cache unless --live-teachers, the choice said in one line.</summary>
    public DenseTeacherOptions DenseTeachers(IAnsiConsole console) =>
        new(LiveTeachers, line => console.MarkupLine(Markup.Escape(line)));

    /// <summary>Common checks of values CommandLineParser accepts but no run can use.</summary>
    protected void CheckCommon()
    {
        if (string.IsNullOrWhiteSpace(Pool)) throw new MtkdException("--pool must name a folder");
        if (Threads < 0) throw new MtkdException($"--threads must be >= 0 (got {Threads})");
    }
}
