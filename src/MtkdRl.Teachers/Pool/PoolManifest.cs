using System.Text.Json.Serialization;
using MtkdRl.Core;

namespace MtkdRl.Teachers;

/// <summary>How a teacher came into the pool.</summary>
public enum TeacherKind { Trained, Imported }

/// <summary>Files of an imported teacher's outputs, stored in the pool folder as float32 NPY.</summary>
/// <param name="TestEmbeddings">Null when none were given: the test cache then holds zeros for this teacher's embedding.</param>
public sealed record ImportedOutputs(string TrainLogits, string TrainEmbeddings, string TestLogits, string? TestEmbeddings);

/// <summary>
/// The network an imported teacher's outputs came from, kept in the pool so the teacher can also run live: an ONNX
/// file (a name in the pool folder), the tensors read, and the input normalisation it was fed, per channel
/// ((pixel / 255 - mean) / std).
/// </summary>
/// <param name="Boxes">A detector's box output (absent from pool.json for other tasks).</param>
public sealed record OnnxTeacherFile(string File, string Input, string Logits, string Embedding, float[] Mean, float[] Std,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Boxes = null);

/// <summary>One teacher of a pool.</summary>
/// <param name="Checkpoint">A trained teacher's checkpoint config file name (NAME.json), in the pool folder.</param>
/// <param name="Outputs">An imported teacher's output files.</param>
/// <param name="Onnx">An imported teacher's ONNX model, when it came from one (absent from pool.json otherwise).</param>
/// <param name="FlipTest">A segmentation teacher that answers with the flip test (<see cref="FlipTestTeacher"/>) in its
/// score, the cache and live runs; absent from pool.json when false.</param>
public sealed record PoolTeacher(
    string Name, string Spec, TeacherKind Kind, string? Checkpoint, ImportedOutputs? Outputs,
    double TestAccuracy, int EmbeddingWidth, long Parameters, double Seconds,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] OnnxTeacherFile? Onnx = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] bool FlipTest = false);

/// <summary>
/// <c>pool.json</c>: the dataset the pool belongs to (name, fingerprint, classes, image shape, split sizes) and
/// its teachers. Written atomically after every teacher, so an interrupted `teachers train` keeps those done.
/// </summary>
public sealed record PoolManifest
{
    public const int CurrentFormat = 1;
    public const string FileName = "pool.json";

    public int FormatVersion { get; init; } = CurrentFormat;
    public DatasetIdentity Dataset { get; init; } = new("", "");

    /// <summary>The pool's task (<see cref="TaskKinds.Name"/>); absent: classification.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Task { get; init; }

    /// <summary>The pool's task, read from <see cref="Task"/>.</summary>
    public TaskKind TaskKind(string poolDir) => TaskKinds.Parse(Task, PathIn(poolDir));
    public int Classes { get; init; }
    public IReadOnlyList<string> ClassNames { get; init; } = [];

    /// <summary>One sample's shape, [Ch, H, W].</summary>
    public int[] InputShape { get; init; } = [];
    public int TrainRows { get; init; }
    public int TestRows { get; init; }
    public IReadOnlyList<PoolTeacher> Teachers { get; init; } = [];

    public static string PathIn(string poolDir) => Path.Combine(poolDir, FileName);

    public static bool Exists(string poolDir) => File.Exists(PathIn(poolDir));

    /// <summary>
    /// Reads and checks a pool's manifest; a missing one gets a hint on how to make it. A pool made for another task than
    /// <paramref name="expected"/> is refused in one line; null reads a pool of any task.
    /// </summary>
    public static PoolManifest Read(string poolDir, MtkdRl.Core.TaskKind? expected = MtkdRl.Core.TaskKind.Classification)
    {
        string path = PathIn(poolDir);
        if (!File.Exists(path))
            throw new MtkdInputException($"{path}: no such file (make a pool with `mtkd teachers train --pool {poolDir}`)");
        var m = JsonFiles.Read<PoolManifest>(path, "pool manifest");
        if (m.FormatVersion != CurrentFormat)
            throw new MtkdInputException($"{path}: pool format {m.FormatVersion} is not supported (this build reads format {CurrentFormat})");
        if (expected is { } task) TaskKinds.Require(task, TaskKinds.Parse(m.Task, path), path);
        if (m.Dataset is null || m.Teachers is null || m.InputShape is not { Length: 3 } || m.Classes < 2 || m.TrainRows < 1 || m.TestRows < 1)
            throw new MtkdInputException($"{path}: incomplete pool manifest (needs dataset, classes, input_shape [Ch,H,W], train_rows, test_rows, teachers)");
        foreach (var t in m.Teachers)
        {
            if (t is null || string.IsNullOrEmpty(t.Name) || t.EmbeddingWidth < 1)
                throw new MtkdInputException($"{path}: a teacher entry lacks a name or a positive embedding_width");
            // An imported teacher names its stored outputs, or (a segmentation teacher) the ONNX model that makes them.
            if (t.Kind == TeacherKind.Trained ? t.Checkpoint is null : t.Outputs is null && t.Onnx is null)
                throw new MtkdInputException($"{path}: teacher '{t.Name}' ({t.Kind.ToString().ToLowerInvariant()}) names no {(t.Kind == TeacherKind.Trained ? "checkpoint" : "outputs")}");
            if (t.Onnx is { } onnx && (onnx.Mean is null || onnx.Std is null || onnx.Mean.Length == 0 || onnx.Mean.Length != onnx.Std.Length))
                throw new MtkdInputException($"{path}: teacher '{t.Name}': its onnx entry needs one mean and one std per channel");
            if (t.FlipTest && TaskKinds.Parse(m.Task, path) is var kind && kind != MtkdRl.Core.TaskKind.Segmentation)
                throw new MtkdInputException($"{path}: teacher '{t.Name}': flip_test is for segmentation teachers, and this is a {kind.Name()} pool");
            string? bad = TeacherFiles(t).FirstOrDefault(f => Path.GetFileName(f) != f);
            if (bad is not null) throw new MtkdInputException($"{path}: teacher '{t.Name}': file '{bad}' must be a name in the pool folder");
        }
        string? twice = m.Teachers.GroupBy(t => t.Name).FirstOrDefault(g => g.Count() > 1)?.Key;
        if (twice is not null) throw new MtkdInputException($"{path}: teacher '{twice}' is listed twice");
        return m;
    }

    public void Write(string poolDir) => JsonFiles.Write(PathIn(poolDir), this);

    /// <summary>The manifest with <paramref name="teacher"/> added, or replacing the one of the same name in place.</summary>
    public PoolManifest With(PoolTeacher teacher)
    {
        var list = Teachers.ToList();
        int at = list.FindIndex(t => t.Name == teacher.Name);
        if (at >= 0) list[at] = teacher;
        else list.Add(teacher);
        return this with { Teachers = list };
    }

    /// <summary>Every file a teacher's outputs depend on, as names in the pool folder.</summary>
    public static IEnumerable<string> TeacherFiles(PoolTeacher t)
    {
        if (t.Kind == TeacherKind.Trained)
        {
            yield return t.Checkpoint!;
            yield return global::MtkdRl.Teachers.Checkpoint.WeightsPathOf(t.Checkpoint!);
            yield break;
        }
        if (t.Outputs is { } o)
        {
            yield return o.TrainLogits;
            yield return o.TrainEmbeddings;
            yield return o.TestLogits;
            if (o.TestEmbeddings is not null) yield return o.TestEmbeddings;
        }
        if (t.Onnx is not null) yield return t.Onnx.File;
    }
}
