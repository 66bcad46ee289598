using System.Reflection;
using MtkdRl.Core;
using MtkdRl.Data.Datasets;

namespace MtkdRl.Teachers;

/// <summary>One teacher to train: its pool name and how it is trained.</summary>
public sealed record TeacherPlan(string Name, TrainingRecipe Recipe);

/// <summary>
/// The pools `mtkd teachers train --preset` knows, each a recipe file shipped inside the tool
/// (Pool/Recipes/NAME.json, the same format as `--recipe FILE`). All are heterogeneous on purpose: CNNs and MLPs of
/// different widths and depths (so embedding widths D differ from teacher to teacher), plus deliberately weaker
/// teachers, because per-sample teacher weighting only matters when the teachers disagree in quality.
/// </summary>
public static class PoolPresets
{
    public static readonly IReadOnlyList<string> Names = ["quick", "default", "specialists", "seg-quick", "seg-default", "det-quick", "det-default"];

    /// <summary>The preset's recipe as shipped.</summary>
    public static PoolRecipe Recipe(string preset)
    {
        string name = preset.ToLowerInvariant();
        if (!Names.Contains(name))
            throw new MtkdInputException($"--preset '{preset}': unknown preset (known: {string.Join(", ", Names)})");
        return PoolRecipe.Parse(Text(name), $"preset '{name}'");
    }

    /// <summary>The preset's recipe text, as `teachers recipe --preset` prints it for a user to edit.</summary>
    public static string Text(string preset)
    {
        string resource = $"MtkdRl.Teachers.Recipes.{preset.ToLowerInvariant()}.json";
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(resource)
            ?? throw new MtkdInputException($"--preset '{preset}': unknown preset (known: {string.Join(", ", Names)})");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>
    /// The preset's teachers on <paramref name="data"/>. <paramref name="epochs"/> (when positive) replaces every
    /// teacher's epoch count, and the warm-up shrinks to fit. Each teacher's seed derives from
    /// <paramref name="seed"/> and its position; augmentation follows the dataset (<see cref="PoolRecipe.Plans"/>).
    /// </summary>
    public static IReadOnlyList<TeacherPlan> Get(string preset, ImageDataset data, ulong seed, int epochs = 0) =>
        Recipe(preset).With(seed, epochs, augment: null).Plans(data, $"preset '{preset}'");
}
