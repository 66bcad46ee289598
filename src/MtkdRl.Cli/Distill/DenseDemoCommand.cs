using MtkdRl.Core;
using MtkdRl.Data.Scenes;
using MtkdRl.Distillation;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Distill;

/// <summary>`demo --task segmentation`: scenes from the slice, the seg-quick pool, a small comparison on test mIoU.</summary>
public static class DenseDemoCommand
{
    /// <summary>The classification demo's default student, replaced by a small U-Net on scenes.</summary>
    private const string ClassifierDefault = "mlp:128x64", SegmentationDefault = "unet:4x8";

    /// <summary>Scenes small enough for the demo's time on two cores.</summary>
    public static readonly SceneOptions DemoScenes = new() { Canvas = 40, TrainCount = 600, TestCount = 200, Seed = 1 };

    public static int Run(IAnsiConsole console, string outDir, string? source, string student, int epochs, int seeds, int threads)
    {
        if (student == ClassifierDefault) student = SegmentationDefault;
        var demo = new DenseDemoPipeline(new DenseDemoSettings(outDir, source, student, epochs, seeds, 16, DemoScenes));
        using var outLock = FolderLock.Acquire(outDir);
        using var compute = new CpuCompute(threads);
        console.WriteLine($"scenes: {demo.ScenesDir}");
        var data = demo.Scenes();
        console.WriteLine($"training the seg-quick teachers into {demo.PoolDir} ...");
        foreach (var t in demo.TrainPool(data, compute))
            console.WriteLine($"  {t.Entry.Name}: {t.Entry.Spec}{(t.Skipped ? " (kept)" : "")}");
        using var backend = Backends.BackendCatalog.Create("native");
        var result = demo.Compare(data, compute, backend,
            (r, e) => console.MarkupLine(Markup.Escape($"{r.Strategy}/seed{r.Seed} epoch {e.Epoch}: test mIoU {e.TestMeanIoU:F4}")));
        console.Write(ComparisonTable.Render(result.Comparison, result.Title));
        console.WriteLine(result.Reading);
        console.WriteLine($"report: {Path.Combine(outDir, "comparison.md")} ({string.Join(", ", result.Files.Select(Path.GetFileName))})");
        return 0;
    }
}
