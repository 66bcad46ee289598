using MtkdRl.Core;
using MtkdRl.Strategies;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>
/// A dense run's folder: the student as its task's checkpoint (student.json + student.safetensors) and the rest
/// of the run's state in <see cref="DistillCheckpoint"/>'s state files, marked with the task. Written student
/// first, then the state tensors, then state.json naming their hash, each atomically.
/// </summary>
public static class DenseDistillCheckpoint
{
    public static void Save(string dir, DenseTask task, ProjectionHeads heads, Optimizer optimizer, IWeightingStrategy strategy, DistillState state)
    {
        Directory.CreateDirectory(dir);
        task.SaveStudent(Path.Combine(dir, DistillCheckpoint.StudentName), state.Epoch, state.Step);
        DistillCheckpoint.SaveState(dir, heads, optimizer, strategy, state with { Task = task.Kind.Name() });
    }

    /// <summary>state.json of the run in <paramref name="dir"/>; one line when it is not a run of <paramref name="task"/>.</summary>
    public static DistillState ReadState(string dir, TaskKind task)
    {
        var state = DistillCheckpoint.ReadState(dir);
        state.RequireTask(task, dir);
        return state;
    }

    /// <summary>Copies the saved student into the task's student (same spec) and restores heads, optimiser and strategy.</summary>
    public static void LoadInto(string dir, DistillState state, DenseTask task, ProjectionHeads heads, Optimizer optimizer, IWeightingStrategy strategy)
    {
        task.LoadStudent(Path.Combine(dir, DistillCheckpoint.StudentName));
        DistillCheckpoint.RestoreState(dir, state, heads, optimizer, strategy);
    }
}
