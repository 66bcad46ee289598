using MtkdRl.Core;
using MtkdRl.Data.Scenes;
using MtkdRl.Distillation;
using MtkdRl.Teachers;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Distill;

/// <summary>`demo --task segmentation` and `--task detection`: scenes from the slice, the task's teacher pool, a small comparison against none.</summary>
public static class DenseDemoCommand
{
    /// <summary>
    /// The classification demo's default student, replaced by a small U-Net (segmentation) or a small stride-4
    /// detector on scenes. Both have four stages, as the strong teachers do: with fewer (unet:4x8, det:8x16x16) a
    /// location sees less than the smallest object, and the student stays near 0.11 mIoU or 0.07 AP whatever it is
    /// taught (docs/RESULTS.md, "A segmentation student that can learn", "A detection student that can learn").
    /// </summary>
    private const string ClassifierDefault = "mlp:128x64", SegmentationDefault = "unet:8x16x32x32", DetectionDefault = "det:8x16x32x32,s4";

    /// <summary>Batches of 8 images (75 steps an epoch on the demo's 600 canvases): steps, not epochs, limit these networks.</summary>
    private const int SegmentationEpochs = 12, DetectionEpochs = 16, DenseBatch = 8;

    /// <summary>Scenes small enough for the demo's time on two cores.</summary>
    public static readonly SceneOptions DemoScenes = new() { Canvas = 40, TrainCount = 600, TestCount = 200, Seed = 1 };

    public static int Run(IAnsiConsole console, string outDir, string? source, string student, int? epochs, int seeds, int threads, bool perPixelWeights = false)
    {
        if (student == ClassifierDefault) student = SegmentationDefault;
        var demo = new DenseDemoPipeline(new DenseDemoSettings(outDir, source, student, epochs ?? SegmentationEpochs, seeds, DenseBatch, DemoScenes,
            PerPixelWeights: perPixelWeights));
        using var outLock = FolderLock.Acquire(outDir);
        using var compute = new CpuCompute(threads);
        console.WriteLine($"scenes: {demo.ScenesDir}");
        var data = demo.Scenes();
        console.WriteLine($"training the seg-quick teachers into {demo.PoolDir} ...");
        foreach (var t in demo.TrainPool(data, compute))
            console.WriteLine($"  {t.Entry.Name}: {t.Entry.Spec}{(t.Skipped ? " (kept)" : "")}");
        using var backend = Backends.BackendCatalog.Create("native");
        if (demo.CacheTeachers(data, compute, backend) is { } cache)
            console.WriteLine($"cached the teachers on the canvas grid: {cache.Path} ({cache.Bytes / 1e6:F1} MB)");
        var result = demo.Compare(data, compute, backend,
            (r, e) => console.MarkupLine(Markup.Escape($"{r.Strategy}/seed{r.Seed} epoch {e.Epoch}: test mIoU {e.TestMeanIoU:F4}")));
        console.Write(ComparisonTable.Render(result.Comparison, result.Title));
        console.WriteLine(result.Reading);
        console.WriteLine($"report: {Path.Combine(outDir, "comparison.md")} ({string.Join(", ", result.Files.Select(Path.GetFileName))})");
        return 0;
    }

    /// <summary>`demo --task detection`: scenes from the slice, the det-quick pool, its cache on the student's grid, a small comparison on test AP and AP50.</summary>
    public static int RunDetection(IAnsiConsole console, string outDir, string? source, string student, int? epochs, int seeds, int threads, bool perPixelWeights = false)
    {
        if (student == ClassifierDefault) student = DetectionDefault;
        var demo = new DenseDemoPipeline(new DenseDemoSettings(outDir, source, student, epochs ?? DetectionEpochs, seeds, DenseBatch, DemoScenes,
            Task: TaskKind.Detection, PerPixelWeights: perPixelWeights));
        using var outLock = FolderLock.Acquire(outDir);
        using var compute = new CpuCompute(threads);
        console.WriteLine($"scenes: {demo.ScenesDir}");
        demo.Scenes();
        var scenes = DetectionScenes.Load(demo.ScenesDir);
        console.WriteLine($"training the det-quick teachers into {demo.PoolDir} ...");
        foreach (var t in demo.TrainDetectionPool(scenes, compute))
            console.WriteLine($"  {t.Entry.Name}: {t.Entry.Spec}, test AP {t.Entry.TestAccuracy:F4}{(t.Skipped ? " (kept)" : "")}");
        using var backend = Backends.BackendCatalog.Create("native");
        if (demo.CacheDetectionTeachers(scenes, compute, backend) is { } cache)
            console.WriteLine($"cached the teachers on the student's grid: {cache.Path} ({cache.Bytes / 1e6:F1} MB)");
        var result = demo.CompareDetection(scenes, compute, backend,
            (r, e) => console.MarkupLine(Markup.Escape($"{r.Strategy}/seed{r.Seed} epoch {e.Epoch}: test AP {e.TestAp:F4}, AP50 {e.TestAp50:F4}")));
        console.Write(ComparisonTable.Render(result.Comparison, result.Title));
        console.WriteLine(result.Reading);
        console.WriteLine($"report: {Path.Combine(outDir, "comparison.md")} (AP50: {Path.Combine(outDir, DenseComparisonRunner.Ap50Folder, "comparison.md")})");
        return 0;
    }
}
