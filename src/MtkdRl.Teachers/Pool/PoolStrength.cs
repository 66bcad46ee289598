using MtkdRl.Core.Formats;

namespace MtkdRl.Teachers;

/// <summary>A teacher's accuracy on the training split, read from the pool's cache.</summary>
public sealed record TeacherCompetence(string Name, double TrainAccuracy);

/// <summary>
/// Whether a pool can teach a student anything the labels do not already say. Measured on the training split
/// only (the teachers' cached outputs against the labels, and the student's own training accuracy), never on the
/// test split, so the check cannot leak test data into a choice.
/// </summary>
public static class PoolStrength
{
    /// <summary>The best teacher must beat the student by at least this much (one point) for distillation to be expected to help.</summary>
    public const double DefaultMargin = 0.01;

    /// <summary>Each cached teacher's top-1 accuracy over the cache's rows (first maximum wins a tie).</summary>
    public static IReadOnlyList<TeacherCompetence> TrainAccuracies(TeacherCacheFile cache, ReadOnlySpan<int> labels)
    {
        var h = cache.Header;
        if (labels.Length != h.Rows) throw new ArgumentException($"{labels.Length} labels for a cache of {h.Rows} rows");
        int k = h.K, c = h.Classes;
        const int Batch = 512;
        var hits = new long[k];
        var zt = new float[(long)k * Batch * c];
        var ft = new float[(long)Batch * h.F];
        var indices = new int[Batch];
        for (int first = 0; first < h.Rows; first += Batch)
        {
            int b = Math.Min(Batch, h.Rows - first);
            for (int r = 0; r < b; r++) indices[r] = first + r;
            cache.Gather(indices.AsSpan(0, b), zt, ft);
            for (int t = 0; t < k; t++)
            {
                for (int r = 0; r < b; r++)
                {
                    var row = zt.AsSpan((t * b + r) * c, c);
                    int best = 0;
                    for (int j = 1; j < c; j++) if (row[j] > row[best]) best = j;
                    if (best == labels[first + r]) hits[t]++;
                }
            }
        }
        return h.Teachers.Select((t, i) => new TeacherCompetence(t.Name, h.Rows == 0 ? 0 : hits[i] / (double)h.Rows)).ToList();
    }

    /// <summary>
    /// One line saying the pool is weak when no teacher beats <paramref name="studentTrainAccuracy"/> on the
    /// training split, by <paramref name="margin"/> in accuracy or by making at most half the student's errors (a
    /// student near 100 % on its training rows leaves no room for a point, yet a teacher with none of its errors
    /// still teaches); null when one does.
    /// </summary>
    public static string? WeakPoolWarning(IReadOnlyList<TeacherCompetence> teachers, double studentTrainAccuracy, double margin = DefaultMargin)
    {
        if (teachers.Count == 0) return null;
        var best = teachers.MaxBy(t => t.TrainAccuracy)!;
        double teacherErrors = 1 - best.TrainAccuracy, studentErrors = 1 - studentTrainAccuracy;
        if (best.TrainAccuracy >= studentTrainAccuracy + margin || teacherErrors <= studentErrors / 2) return null;
        return $"weak pool: the best teacher, '{best.Name}', is {best.TrainAccuracy * 100:F2} % on the train split against the student's own "
            + $"{studentTrainAccuracy * 100:F2} %, neither {margin * 100:0.#} point above it nor with half its errors; distillation has little to add to the labels here";
    }
}
