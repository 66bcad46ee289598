namespace MtkdRl.Core;

/// <summary>
/// What a model, a pool, a teacher cache or a run is for. Each records its task (pool.json, the cache header,
/// summary.json, checkpoints) and every command refuses to mix two in one line. The JSON name is
/// <see cref="TaskKinds.Name"/>'s: "classification", "segmentation", "detection".
/// </summary>
public enum TaskKind { Classification, Segmentation, Detection }

public static class TaskKinds
{
    public static string Name(this TaskKind task) => task switch
    {
        TaskKind.Classification => "classification",
        TaskKind.Segmentation => "segmentation",
        TaskKind.Detection => "detection",
        _ => throw new ArgumentOutOfRangeException(nameof(task), task, null),
    };

    /// <summary>Reads a task name; a missing name (older files) means classification.</summary>
    public static TaskKind Parse(string? name, string where) => (name ?? "classification").ToLowerInvariant() switch
    {
        "classification" => TaskKind.Classification,
        "segmentation" => TaskKind.Segmentation,
        "detection" => TaskKind.Detection,
        _ => throw new MtkdInputException($"{where}: unknown task '{name}' (known: classification, segmentation, detection)"),
    };

    /// <summary>One line when two things meant to work together were made for different tasks.</summary>
    public static void Require(TaskKind expected, TaskKind actual, string where)
    {
        if (expected != actual)
            throw new MtkdInputException($"{where}: made for {actual.Name()}, but this needs {expected.Name()}");
    }
}
