using MtkdRl.Core;
using MtkdRl.Strategies;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>
/// A dense run's folder: the student as a segmentation checkpoint (student.json + student.safetensors) and the rest
/// of the run's state in <see cref="DistillCheckpoint"/>'s state files, marked task segmentation. Written student
/// first, then the state tensors, then state.json naming their hash, each atomically.
/// </summary>
public static class DenseDistillCheckpoint
{
    public static void Save(string dir, SegmentationModel student, CheckpointConfig studentConfig, ProjectionHeads heads, Optimizer optimizer,
        IWeightingStrategy strategy, DistillState state)
    {
        Directory.CreateDirectory(dir);
        SegmentationCheckpoint.Save(Path.Combine(dir, DistillCheckpoint.StudentName), student, studentConfig);
        DistillCheckpoint.SaveState(dir, heads, optimizer, strategy, state with { Task = TaskKind.Segmentation.Name() });
    }

    /// <summary>state.json of the run in <paramref name="dir"/>; one line when it is not a segmentation run.</summary>
    public static DistillState ReadState(string dir)
    {
        var state = DistillCheckpoint.ReadState(dir);
        state.RequireTask(TaskKind.Segmentation, dir);
        return state;
    }

    /// <summary>Copies the saved student into <paramref name="student"/> (same spec) and restores heads, optimiser and strategy.</summary>
    public static void LoadInto(string dir, DistillState state, CpuCompute compute, SegmentationModel student, ProjectionHeads heads,
        Optimizer optimizer, IWeightingStrategy strategy)
    {
        string path = Path.Combine(dir, DistillCheckpoint.StudentName);
        var saved = SegmentationCheckpoint.Load(path, compute).Model;
        if (saved.Spec.ToString() != student.Spec.ToString() || saved.Classes != student.Classes)
            throw new MtkdInputException($"{path}.json: student {saved.Spec} with {saved.Classes} classes, the run needs {student.Spec} with {student.Classes}");
        foreach (var (to, from) in student.NamedTensors.Zip(saved.NamedTensors)) from.Value.CopyTo(to.Value, 0);
        DistillCheckpoint.RestoreState(dir, state, heads, optimizer, strategy);
    }
}
