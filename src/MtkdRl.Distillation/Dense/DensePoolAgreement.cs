using MtkdRl.Core;
using MtkdRl.Teachers;

namespace MtkdRl.Distillation;

/// <summary>
/// <see cref="PoolAgreement"/> of a dense pool, read from its teacher cache on the student's grid: every training image,
/// its rows (pixels or locations) labelled as a dense run labels them, background rows left out (every teacher gets
/// most of them right, and they would hide what the teachers disagree on).
/// </summary>
public static class DensePoolAgreement
{
    public const int Background = 0;
    private const int ImagesPerRead = 32;

    public static PoolAgreementResult Measure(DenseTask task)
    {
        using var cache = DenseTeacherCache.TryOpen(task)
            ?? throw new MtkdInputException($"{task.Pool.Dir}: no teacher cache for the student's grid {task.StudentGrid}; `mtkd teachers cache --pool {task.Pool.Dir} --data {task.Source}` makes one");
        var grid = task.StudentGrid;
        int k = task.TeacherWidths.Count, rows = grid.RowsPerImage, c = grid.Columns, f = cache.Header.F;
        var agreement = new PoolAgreement(k, c, Background);
        var zt = new float[(long)k * ImagesPerRead * rows * c];
        var ft = new float[ImagesPerRead * f];
        var full = task.NewBatch(ImagesPerRead);
        for (int first = 0; first < task.TrainCount; first += ImagesPerRead)
        {
            int images = Math.Min(ImagesPerRead, task.TrainCount - first);
            int[] indices = [.. Enumerable.Range(first, images)];
            var batch = images == ImagesPerRead ? full : task.NewBatch(images);
            task.Fill(indices, batch);
            var logits = zt.AsSpan(0, k * images * rows * c);
            cache.Gather(indices, logits, ft.AsSpan(0, images * f));
            agreement.Add(logits, batch.Labels.AsSpan(0, images * rows), rows);
        }
        return agreement.Result(task.Pool.TeacherNames);
    }
}
