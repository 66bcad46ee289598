using MtkdRl.Core;

namespace MtkdRl.Distillation;

/// <summary>
/// A teacher detector's class-logit rows on the student's output grid. Teacher and student see the same canvas;
/// when the teacher's stride is s_t = f * s_s (f a whole number), student location (y, x) lies in teacher cell
/// (y / f, x / f) and takes that cell's logits (nearest neighbour). A teacher with a finer grid than the student's
/// is refused.
/// </summary>
public static class LocationResampling
{
    /// <summary>The whole factor f from teacher stride to student stride, or a one-line error.</summary>
    public static int Factor(int teacherStride, int studentStride, string teacher, string student)
    {
        if (teacherStride < studentStride || teacherStride % studentStride != 0)
            throw new MtkdInputException($"teacher {teacher} (stride {teacherStride}) cannot be read on the grid of student {student} (stride {studentStride}): the teacher's stride must be a whole multiple of the student's");
        return teacherStride / studentStride;
    }

    /// <summary>
    /// Rows [N * Ht * Wt, C] of the teacher to rows [N * (Ht f) * (Wt f), C] of the student grid, row-major per image.
    /// </summary>
    public static void ToStudentGrid(ReadOnlySpan<float> teacherRows, int images, int teacherWidth, int teacherHeight, int factor, int columns, Span<float> studentRows)
    {
        int w = teacherWidth * factor, h = teacherHeight * factor, lt = teacherWidth * teacherHeight, ls = w * h;
        if (teacherRows.Length != images * lt * columns || studentRows.Length != images * ls * columns)
            throw new MtkdInputException($"location resampling: {images} images need {images * lt * columns} teacher and {images * ls * columns} student values");
        for (int n = 0; n < images; n++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    teacherRows.Slice((n * lt + y / factor * teacherWidth + x / factor) * columns, columns)
                        .CopyTo(studentRows.Slice((n * ls + y * w + x) * columns, columns));
    }
}
