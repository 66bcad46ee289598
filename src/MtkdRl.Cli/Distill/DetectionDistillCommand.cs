using MtkdRl.Core;
using MtkdRl.Distillation;
using MtkdRl.Teachers;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Distill;

/// <summary>`distill --data SCENES --pool DETPOOL`: a detector from a detection pool, live teachers, test AP and AP50 per epoch, a checkpoint per epoch in --out.</summary>
public static class DetectionDistillCommand
{
    /// <summary>Whether --pool is a detection pool (its pool.json says task "detection").</summary>
    public static bool IsDetectionPool(string pool) =>
        PoolManifest.Exists(pool) && PoolManifest.Read(pool, null).TaskKind(pool) == TaskKind.Detection;

    public static int Run(IAnsiConsole console, DistillOptions options, DistillRecipe recipe, string outDir, bool resume)
    {
        var scenes = DetectionScenes.Load(options.Data!);
        using var backend = options.CreateBackend();
        using var compute = new CpuCompute(options.Threads);
        var run = new DetectionDistillRun(scenes, options.Pool, compute, backend) { Teachers = options.DenseTeachers(console) };
        var epochs = run.Run(recipe, outDir, resume, e => console.MarkupLine(Markup.Escape($"epoch {e.Epoch}: loss {e.Loss:F4}, test AP {e.TestAp:F4}, AP50 {e.TestAp50:F4}")));
        DenseEpochTable.Write(console, recipe, options.Data!, outDir, "test AP", "test AP50", epochs, e => (e.TestAp.ToString("F4"), e.TestAp50.ToString("F4")));
        return 0;
    }
}
