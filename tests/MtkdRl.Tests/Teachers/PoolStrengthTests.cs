using MtkdRl.Core.Formats;
using MtkdRl.Teachers;
using MtkdRl.Tests.Data;

namespace MtkdRl.Tests.Teachers;

public class PoolStrengthTests
{
    [Fact]
    public void Train_accuracies_are_counted_from_the_cached_logits()
    {
        using var temp = new TempFolder();
        string path = Path.Combine(temp.Root, "cache-train.mtkc");
        // 5 rows, 3 classes, 2 teachers: the first right on rows 0, 1, 2 (a tie on row 2 goes to the first maximum), the second on row 4 only.
        int[] labels = [0, 1, 0, 2, 1];
        float[] first = [5, 1, 1, /**/ 0, 3, 1, /**/ 2, 2, 0, /**/ 1, 0, 0, /**/ 3, 0, 0];
        float[] second = [0, 1, 0, /**/ 0, 0, 1, /**/ 0, 1, 0, /**/ 1, 0, 0, /**/ 0, 1, 0];
        var header = new TeacherCacheHeader(TeacherCacheHeader.CurrentFormat, CacheDType.F32, "train", 5, 3, "d", "f", "p",
            [new CachedTeacher("a", "mlp:8", 2, "x"), new CachedTeacher("b", "linear", 1, "y")], "");
        using (var writer = new TeacherCacheFile.Writer(path, header))
        {
            writer.Write(0, 0, first, new float[10]);
            writer.Write(1, 0, second, new float[5]);
            writer.Commit();
        }
        using var cache = TeacherCacheFile.Open(path);
        var accuracies = PoolStrength.TrainAccuracies(cache, labels);
        Assert.Equal([("a", 0.6), ("b", 0.2)], accuracies.Select(t => (t.Name, t.TrainAccuracy)));
    }

    [Theory]
    [InlineData(0.96, 0.94, false)]
    [InlineData(0.95, 0.9401, true)]
    [InlineData(0.90, 0.94, true)]
    [InlineData(1.00, 0.995, false)]
    [InlineData(0.997, 0.995, true)]
    public void A_pool_whose_best_teacher_is_not_a_point_above_the_student_is_weak(double teacher, double student, bool weak)
    {
        TeacherCompetence[] pool = [new("linear", 0.80), new("cnn", teacher)];
        string? warning = PoolStrength.WeakPoolWarning(pool, student);
        Assert.Equal(weak, warning is not null);
        if (warning is null) return;
        Assert.StartsWith("weak pool: the best teacher, 'cnn', is", warning);
        Assert.DoesNotContain('\n', warning);
    }
}
