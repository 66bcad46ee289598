using MtkdRl.Core;

namespace MtkdRl.Teachers;

/// <summary>One teacher a preset trains: its pool name and how it is trained.</summary>
public sealed record TeacherPlan(string Name, TrainingRecipe Recipe);

/// <summary>
/// The pools `mtkd teachers train --preset` knows. Both are heterogeneous on purpose: CNNs and MLPs of
/// different widths and depths (so embedding widths D differ from teacher to teacher), plus deliberately
/// weaker teachers (a linear model, a small MLP that sees only part of the training split), because
/// per-sample teacher weighting only matters when the teachers disagree in quality.
/// </summary>
public static class PoolPresets
{
    public static readonly IReadOnlyList<string> Names = ["quick", "default", "specialists"];

    /// <summary>
    /// The preset's teachers. <paramref name="epochs"/> (when positive) replaces every teacher's epoch count,
    /// and the warm-up shrinks to fit. Each teacher's seed derives from <paramref name="seed"/> and its position.
    /// </summary>
    public static IReadOnlyList<TeacherPlan> Get(string preset, ulong seed, int epochs = 0)
    {
        var plans = preset.ToLowerInvariant() switch
        {
            "quick" => Quick,
            "default" => Default,
            "specialists" => Specialists,
            _ => throw new MtkdInputException($"--preset '{preset}': unknown preset (known: {string.Join(", ", Names)})"),
        };
        if (epochs < 0) throw new MtkdInputException($"--epochs must be positive (got {epochs})");
        return plans.Select((p, i) =>
        {
            var r = p.Recipe with { Seed = seed * 1000 + (ulong)i + 1 };
            if (epochs > 0) r = r with { Epochs = epochs, WarmupEpochs = Math.Min(r.WarmupEpochs, epochs - 1) };
            return p with { Recipe = r };
        }).ToList();
    }

    /// <summary>Four teachers for the 10,000-image slice: about a minute in all on two cores (the CNN takes most of it).</summary>
    private static readonly TeacherPlan[] Quick =
    [
        new("cnn", new TrainingRecipe { Spec = "cnn:16x32,fc64", Epochs = 8, LearningRate = 0.05, HorizontalFlip = true }),
        new("mlp", new TrainingRecipe { Spec = "mlp:256", Epochs = 8, LearningRate = 0.05 }),
        new("linear", new TrainingRecipe { Spec = "linear", Epochs = 2, LearningRate = 0.01 }),
        new("mlp-subset", new TrainingRecipe { Spec = "mlp:32", Epochs = 4, LearningRate = 0.05, SubsetSize = 1000 }),
    ];

    /// <summary>
    /// Six teachers sized for full Fashion-MNIST (60,000 images): the wide CNN reaches >= 91% and the wide MLP
    /// >= 88% test accuracy; the linear model and the subset MLP stay clearly below.
    /// </summary>
    private static readonly TeacherPlan[] Default =
    [
        new("cnn-wide", new TrainingRecipe { Spec = "cnn:32x64", Epochs = 8, LearningRate = 0.05, WarmupEpochs = 1, HorizontalFlip = true }),
        new("cnn-narrow", new TrainingRecipe { Spec = "cnn:16x32,fc64", Epochs = 6, LearningRate = 0.05, WarmupEpochs = 1, HorizontalFlip = true }),
        new("mlp-wide", new TrainingRecipe { Spec = "mlp:512x512", Epochs = 10, LearningRate = 0.05, WarmupEpochs = 1 }),
        new("mlp-narrow", new TrainingRecipe { Spec = "mlp:128", Epochs = 6, LearningRate = 0.05 }),
        new("linear", new TrainingRecipe { Spec = "linear", Epochs = 3, LearningRate = 0.01 }),
        new("mlp-subset", new TrainingRecipe { Spec = "mlp:64", Epochs = 8, LearningRate = 0.05, SubsetSize = 2000 }),
    ];

    /// <summary>
    /// Three class specialists and one weak generalist, for 10-class data (Fashion-MNIST's groups: tops
    /// 0,2,4,6; trousers, dresses, bags 1,3,8; footwear 5,7,9). Each specialist outputs every class but has seen
    /// only its own, so on any row exactly one specialist is competent and the others are confidently wrong:
    /// the pool where choosing weights per row, not per teacher, is what counts.
    /// </summary>
    private static readonly TeacherPlan[] Specialists =
    [
        new("tops", new TrainingRecipe { Spec = "mlp:256", Epochs = 6, LearningRate = 0.05, Classes = "0,2,4,6" }),
        new("trousers-dresses-bags", new TrainingRecipe { Spec = "mlp:256", Epochs = 6, LearningRate = 0.05, Classes = "1,3,8" }),
        new("footwear", new TrainingRecipe { Spec = "mlp:256", Epochs = 6, LearningRate = 0.05, Classes = "5,7,9" }),
        new("linear", new TrainingRecipe { Spec = "linear", Epochs = 3, LearningRate = 0.01 }),
    ];
}
