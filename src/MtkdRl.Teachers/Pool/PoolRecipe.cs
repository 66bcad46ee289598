using System.Text.Json;
using System.Text.Json.Serialization;
using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Datasets;

namespace MtkdRl.Teachers;

/// <summary>
/// One teacher of a pool recipe file, as a user writes it. Every field but <see cref="Name"/> and
/// <see cref="Spec"/> may be left out and takes <see cref="TrainingRecipe"/>'s default; <see cref="Augment"/>
/// defaults to <c>auto</c> (what suits the dataset, <see cref="AugmentationSpec"/>).
/// </summary>
public sealed record TeacherRecipe
{
    public string Name { get; init; } = "";
    public string Spec { get; init; } = "";
    public int? Epochs { get; init; }

    /// <summary>
    /// At least this many optimiser steps: on a small dataset the teacher trains for more epochs than
    /// <see cref="Epochs"/>, so a recipe sized for one dataset still trains its teachers on a tenth of it.
    /// </summary>
    public int? MinSteps { get; init; }
    public int? Batch { get; init; }
    public string? Optimizer { get; init; }
    public double? Lr { get; init; }
    public double? Momentum { get; init; }
    public double? WeightDecay { get; init; }
    public int? WarmupEpochs { get; init; }

    /// <summary>auto (default), none, flip, crop:N or crop:N+flip.</summary>
    public string? Augment { get; init; }

    /// <summary>Train on this many randomly chosen training rows (0 or absent: all).</summary>
    public int? Subset { get; init; }

    /// <summary>Train only on these classes, a comma list ("0,2,4,6").</summary>
    public string? Classes { get; init; }

    /// <summary>This teacher's seed; absent: derived from the recipe's seed and the teacher's position.</summary>
    public ulong? Seed { get; init; }

    /// <summary>
    /// A classification checkpoint (NAME.json of a cnn) whose convolution stages initialise this segmentation or
    /// detection network's blocks of each stage (<see cref="BackboneInit"/>); absent: random initialisation.
    /// </summary>
    public string? Backbone { get; init; }

    /// <summary>
    /// A segmentation teacher that answers with the flip test (<see cref="FlipTestTeacher"/>) in its score, the cache
    /// and live runs. Not part of how it trains: turning it on or off re-scores a trained teacher, it does not train it again.
    /// </summary>
    public bool? FlipTest { get; init; }
}

/// <summary>
/// A pool described as a file (<c>recipe.json</c>): the teachers to train, each with its model spec and how it
/// is trained. Every preset is such a file shipped inside the tool (<see cref="PoolPresets"/>), and a trained
/// pool keeps the recipe it was trained from in its folder, so a user edits that copy and trains again with
/// <c>mtkd teachers train --recipe</c>. Unknown fields are errors, so a misspelt option never passes silently.
/// </summary>
public sealed record PoolRecipe
{
    public const string FileName = "recipe.json";

    /// <summary>What the pool is for, for people.</summary>
    public string? Description { get; init; }

    /// <summary>The task its teachers are for (<see cref="TaskKinds.Name"/>); absent: classification.</summary>
    public string? Task { get; init; }

    /// <summary>The seed each teacher's own seed derives from (seed * 1000 + position + 1) unless it names one.</summary>
    public ulong Seed { get; init; } = 1;

    public IReadOnlyList<TeacherRecipe> Teachers { get; init; } = [];

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
    };

    /// <summary>Reads and checks a recipe file; every problem is one line naming the file.</summary>
    public static PoolRecipe Read(string path)
    {
        if (!File.Exists(path)) throw new MtkdInputException($"{path}: no such file");
        long length = new FileInfo(path).Length;
        if (length > 1 << 20) throw new MtkdInputException($"{path}: {length} bytes is too large for a pool recipe (at most 1 MiB)");
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MtkdInputException($"{path}: cannot read ({e.Message})");
        }
        return Parse(text, path);
    }

    /// <summary>Parses and checks recipe text; <paramref name="source"/> names it in errors.</summary>
    public static PoolRecipe Parse(string text, string source)
    {
        PoolRecipe? recipe;
        try { recipe = JsonSerializer.Deserialize<PoolRecipe>(text, Json); }
        catch (JsonException e)
        {
            throw new MtkdInputException($"{source}: not a valid pool recipe ({JsonErrorText.Describe(e)})");
        }
        if (recipe is null) throw new MtkdInputException($"{source}: empty pool recipe");
        recipe.Check(source);
        return recipe;
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json) + "\n";

    public void Write(string path) => AtomicFile.WriteAllText(path, ToJson());

    private void Check(string source)
    {
        if (Teachers is null || Teachers.Count == 0) throw new MtkdInputException($"{source}: the recipe lists no teachers");
        foreach (var t in Teachers)
        {
            if (t is null) throw new MtkdInputException($"{source}: a teacher entry is null");
            string who = $"{source}: teacher '{t.Name}'";
            try { TeacherPool.CheckName(t.Name); }
            catch (MtkdInputException e) { throw new MtkdInputException($"{source}: {e.Message.Replace("--name", "name")}"); }
            if (string.IsNullOrWhiteSpace(t.Spec)) throw new MtkdInputException($"{who}: needs a spec (e.g. \"mlp:256\", \"cnn:16x32,fc64\")");
            if (t.Augment is not null) AugmentationSpec.Validate(t.Augment, who);
            if (t.MinSteps is < 1) throw new MtkdInputException($"{who}: min_steps must be at least 1 (got {t.MinSteps})");
            Base(t).Validate(who);
        }
        string? twice = Teachers.GroupBy(t => t.Name).FirstOrDefault(g => g.Count() > 1)?.Key;
        if (twice is not null) throw new MtkdInputException($"{source}: teacher '{twice}' is listed twice");
    }

    /// <summary>A teacher's training recipe without augmentation or seed, which depend on the data and the position.</summary>
    internal static TrainingRecipe Base(TeacherRecipe t)
    {
        var d = new TrainingRecipe();
        return new TrainingRecipe
        {
            Spec = t.Spec,
            Epochs = t.Epochs ?? d.Epochs,
            BatchSize = t.Batch ?? d.BatchSize,
            Optimizer = t.Optimizer ?? d.Optimizer,
            LearningRate = t.Lr ?? d.LearningRate,
            Momentum = t.Momentum ?? d.Momentum,
            WeightDecay = t.WeightDecay ?? d.WeightDecay,
            WarmupEpochs = t.WarmupEpochs ?? d.WarmupEpochs,
            SubsetSize = t.Subset ?? d.SubsetSize,
            Classes = t.Classes,
            Backbone = t.Backbone,
        };
    }

    /// <summary>The recipe with the command line's overrides: a seed, an epoch count for every teacher, an augmentation for every teacher.</summary>
    public PoolRecipe With(ulong? seed, int epochs, string? augment)
    {
        if (epochs < 0) throw new MtkdInputException($"--epochs must be positive (got {epochs})");
        if (augment is not null) AugmentationSpec.Validate(augment, "--augment");
        var teachers = Teachers.Select(t =>
        {
            var r = t;
            if (epochs > 0) r = r with { Epochs = epochs, MinSteps = null, WarmupEpochs = Math.Min(t.WarmupEpochs ?? 0, epochs - 1) };
            if (augment is not null) r = r with { Augment = augment };
            return r;
        }).ToList();
        return this with { Seed = seed ?? Seed, Teachers = teachers };
    }

    /// <summary>
    /// What to train on <paramref name="data"/>: each teacher's full training recipe, its augmentation resolved
    /// against the dataset and its seed derived from the recipe's unless it names its own.
    /// </summary>
    public IReadOnlyList<TeacherPlan> Plans(ImageDataset data, string source)
    {
        TaskKinds.Require(TaskKind.Classification, TaskKinds.Parse(Task, source), source);
        return Teachers.Select((t, i) =>
        {
            string who = $"{source}: teacher '{t.Name}'";
            RefuseFlipTest(t, who, TaskKind.Classification);
            var augmentation = AugmentationSpec.Resolve(t.Augment ?? AugmentationSpec.Auto, data, who);
            var recipe = Base(t) with
            {
                CropPadding = augmentation.CropPadding,
                HorizontalFlip = augmentation.HorizontalFlip,
                Seed = t.Seed ?? Seed * 1000 + (ulong)i + 1,
            };
            return new TeacherPlan(t.Name, WithMinSteps(recipe, t.MinSteps, data, who));
        }).ToList();
    }

    /// <summary>
    /// What to train on scenes of <paramref name="trainRows"/> images: each teacher's training recipe, its
    /// augmentation resolved (auto and flip: a horizontal flip where the classes are mirror-invariant; none; crops
    /// are refused, boxes would leave the canvas) and its seed derived as <see cref="Plans"/> does.
    /// </summary>
    public IReadOnlyList<TeacherPlan> DetectionPlans(int trainRows, bool mirrorInvariant, string source)
    {
        return Teachers.Select((t, i) =>
        {
            string who = $"{source}: teacher '{t.Name}'";
            RefuseFlipTest(t, who, TaskKind.Detection);
            string augment = t.Augment ?? AugmentationSpec.Auto;
            if (augment is not ("auto" or "none" or "flip"))
                throw new MtkdInputException($"{who}: augment '{augment}' is not for detection (known: auto, none, flip)");
            var recipe = Base(t) with
            {
                HorizontalFlip = augment != "none" && mirrorInvariant,
                Seed = t.Seed ?? Seed * 1000 + (ulong)i + 1,
            };
            if (t.MinSteps is int steps)
            {
                int rows = recipe.SubsetSize > 0 ? Math.Min(recipe.SubsetSize, trainRows) : trainRows;
                int epochs = (int)Math.Ceiling(steps / (double)SupervisedTrainer.BatchesPerEpoch(rows, recipe.BatchSize));
                if (epochs > recipe.Epochs) recipe = recipe with { Epochs = epochs };
            }
            return new TeacherPlan(t.Name, recipe);
        }).ToList();
    }

    /// <summary>A one-line error when a teacher of a <paramref name="task"/> recipe asks for the flip test, which is for segmentation.</summary>
    private static void RefuseFlipTest(TeacherRecipe t, string who, TaskKind task)
    {
        if (t.FlipTest == true)
            throw new MtkdInputException($"{who}: flip_test is for segmentation teachers, and this recipe trains {task.Name()} teachers");
    }

    /// <summary>
    /// The recipe with enough epochs for <paramref name="minSteps"/> optimiser steps on the rows it trains on
    /// (its subset or classes of <paramref name="data"/>), warm-up scaled alike.
    /// </summary>
    private static TrainingRecipe WithMinSteps(TrainingRecipe recipe, int? minSteps, ImageDataset data, string who)
    {
        if (minSteps is not int steps) return recipe;
        int rows = SupervisedTrainer.TrainingRows(recipe, data.Train.Labels, data.ClassCount, who)?.Length ?? data.Train.Count;
        int perEpoch = SupervisedTrainer.BatchesPerEpoch(rows, recipe.BatchSize);
        int epochs = (int)Math.Ceiling(steps / (double)perEpoch);
        if (epochs <= recipe.Epochs) return recipe;
        int warmup = (int)Math.Round(recipe.WarmupEpochs * (double)epochs / recipe.Epochs);
        return recipe with { Epochs = epochs, WarmupEpochs = Math.Min(warmup, epochs - 1) };
    }

    /// <summary>The recipe with every teacher's seed written out, so its teachers can be reordered or merged without changing them.</summary>
    public PoolRecipe Pinned() =>
        this with { Teachers = Teachers.Select((t, i) => t with { Seed = t.Seed ?? Seed * 1000 + (ulong)i + 1 }).ToList() };

    /// <summary>
    /// This recipe merged into the one a pool already keeps, seeds pinned: teachers of the same name are
    /// replaced, others are kept, so a pool grown by several runs keeps the recipe of every teacher it holds.
    /// </summary>
    public PoolRecipe MergedInto(PoolRecipe? kept)
    {
        var mine = Pinned();
        if (kept is null) return mine;
        var names = mine.Teachers.Select(t => t.Name).ToHashSet();
        var others = kept.Pinned().Teachers.Where(t => !names.Contains(t.Name));
        return mine with { Teachers = [.. others, .. mine.Teachers] };
    }
}
