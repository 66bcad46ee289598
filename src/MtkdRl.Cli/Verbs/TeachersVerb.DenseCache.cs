using CommandLine;
using MtkdRl.Cli.Distill;
using MtkdRl.Cli.Teachers;
using MtkdRl.Core;
using MtkdRl.Distillation;
using MtkdRl.Teachers;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

public sealed partial class TeachersVerb
{
    /// <summary>Every segmentation student's output grid is the canvas, so any segmentation spec names it.</summary>
    private const string SegmentationGridStudent = "unet:4x8";

    [Option("student", HelpText = "cache, agreement on a scenes pool: the student whose output grid the cache holds the teachers' logits on (a det: spec for a detection pool, required there; every segmentation student's grid is the canvas).")]
    public string? Student { get; set; }

    [Option("float32", HelpText = "cache on a scenes pool: store float32 instead of the default float16.")]
    public bool Float32 { get; set; }

    [Option("uncompressed", HelpText = "cache on a scenes pool: store the records as they are (read in place, no inflating) instead of compressed losslessly (about half the size; the default).")]
    public bool Uncompressed { get; set; }

    /// <summary>`teachers cache --data SCENES`: the dense teacher cache of a segmentation or detection pool (docs/SCENES.md).</summary>
    private int RunDenseCache(IAnsiConsole console)
    {
        using var compute = new CpuCompute(Threads);
        using var backend = Backends.BackendCatalog.Create("native");
        bool half = !Float32;
        CacheBuildResult result;
        if (DetectionDistillCommand.IsDetectionPool(Pool))
        {
            if (Student is null) throw new MtkdException("teachers cache on a detection pool: give --student det:... (the cache holds the teachers' logits on that student's grid)");
            var run = new DetectionDistillRun(DetectionScenes.Load(Data!), Pool, compute, backend);
            result = TrainingProgress.RunCache(console, progress => run.BuildCache(Student, half, (t, done, n) => progress?.Invoke(DenseTeacherCache.Split, t, done, n), compress: !Uncompressed));
        }
        else
        {
            var data = SegmentationCommands.Open(console, Data!);
            var run = new DenseDistillRun(data, Pool, compute, backend);
            result = TrainingProgress.RunCache(console, progress => run.BuildCache(Student ?? SegmentationGridStudent, half, (t, done, n) => progress?.Invoke(DenseTeacherCache.Split, t, done, n), compress: !Uncompressed));
        }
        WriteCacheTable(console, [result]);
        console.MarkupLine(Markup.Escape($"distill and compare on {Data} with this pool now read the teachers from {result.Path} (--live-teachers runs them instead)"));
        return 0;
    }
}
