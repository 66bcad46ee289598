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
    [Option("json", HelpText = "agreement: also write the figures to this JSON file.")]
    public string? Json { get; set; }

    /// <summary>`teachers agreement`: how far the pool's teachers agree, and the room that leaves a per-sample mix (docs/TEACHERS.md).</summary>
    private int RunAgreement(IAnsiConsole console)
    {
        CheckPool();
        if (Json is not null && Path.GetDirectoryName(Path.GetFullPath(Json)) is { } folder && !Directory.Exists(folder))
            throw new MtkdException($"--json {Json}: folder {folder} does not exist");
        PoolAgreementResult result;
        string rows;
        if (SegmentationCommands.IsScenes(Data))
        {
            using var compute = new CpuCompute(Threads);
            using var backend = Backends.BackendCatalog.Create("native");
            if (DetectionDistillCommand.IsDetectionPool(Pool))
            {
                if (Student is null) throw new MtkdException("teachers agreement on a detection pool: give --student det:... (the cache on that student's grid is read)");
                result = new DetectionDistillRun(DetectionScenes.Load(Data!), Pool, compute, backend).Agreement(Student);
                rows = "object locations";
            }
            else
            {
                var data = SegmentationCommands.Open(console, Data!);
                result = new DenseDistillRun(data, Pool, compute, backend).Agreement(Student ?? SegmentationGridStudent);
                rows = "object pixels";
            }
            rows += $" in {result.Samples:N0} training images, from the cache";
        }
        else
        {
            if (Student is not null) throw new MtkdException("teachers agreement: --student is for a scenes pool (the cache's grid)");
            result = TeacherCache.Agreement(Pool, OpenData(console));
            rows = "test images, from the test cache";
        }
        console.Write(AgreementTable(result, $"pool {Pool}: {result.Rows:N0} {rows}"));
        console.Write(MixTable(result));
        if (Json is not null) AtomicFile.WriteAllText(Json, result.ToJson());
        return 0;
    }

    private static Table AgreementTable(PoolAgreementResult r, string title)
    {
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(title));
        table.AddColumns(["teacher", "right", .. r.Teachers.Select(t => $"same as {t}")]);
        for (int i = 1; i < table.Columns.Count; i++) table.Columns[i].RightAligned();
        for (int j = 0; j < r.Teachers.Count; j++)
            table.AddRow([Markup.Escape(r.Teachers[j]), $"{r.Accuracy[j]:P2}", .. Enumerable.Range(0, r.Teachers.Count).Select(k => j == k ? "-" : $"{r.Agreement[j, k]:P2}")]);
        return table;
    }

    private static Table MixTable(PoolAgreementResult r)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("right, by the teacher a row follows");
        table.AddColumns("rows follow", "right");
        table.Columns[1].RightAligned();
        table.AddRow("the best teacher", $"{r.BestTeacher:P2}");
        table.AddRow("the equal mix (aver's target, T = 1)", $"{r.EqualMix:P2}");
        table.AddRow("the best teacher of each image", $"{r.BestPerSample:P2}");
        table.AddRow("a right teacher, wherever there is one", $"{r.AnyTeacher:P2}");
        return table;
    }
}
