using MtkdRl.Core;
using MtkdRl.Distillation;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Distill;

/// <summary>`distill --data SCENES`: a segmentation student from a segmentation pool, live teachers, test mIoU per epoch, a checkpoint per epoch in --out.</summary>
public static class DenseDistillCommand
{
    public static int Run(IAnsiConsole console, DistillOptions options, DistillRecipe recipe, string outDir, bool resume)
    {
        if (!ModelSpec.Parse(recipe.Student, "student").IsSegmentation)
            throw new MtkdException($"distill on scenes: --student {recipe.Student} is a classifier; give a segmentation spec, e.g. --student unet:8x16");
        var data = MtkdRl.Cli.Teachers.SegmentationCommands.Open(console, options.Data!);
        using var backend = options.CreateBackend();
        using var compute = new CpuCompute(options.Threads);
        var run = new DenseDistillRun(data, options.Pool, compute, backend) { Teachers = options.DenseTeachers(console) };
        var epochs = run.Run(recipe, outDir, resume, e => console.MarkupLine(Markup.Escape($"epoch {e.Epoch}: loss {e.Loss:F4}, test mIoU {e.TestMeanIoU:F4}")));
        DenseEpochTable.Write(console, recipe, options.Data!, outDir, "test mIoU", "pixel acc", epochs, e => (e.TestMeanIoU.ToString("F4"), e.TestPixelAccuracy.ToString("P2")));
        return 0;
    }
}
