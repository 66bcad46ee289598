using MtkdRl.Core;

namespace MtkdRl.Distillation;

/// <summary>A batch of a dense task: N images [N, input] and their row labels [N * P] (-1 = ignored).</summary>
public class DenseBatch(int images, int inputSize, int rowsPerImage)
{
    public int Images { get; } = images;

    public float[] X { get; } = new float[images * inputSize];

    public int[] Labels { get; } = new int[images * rowsPerImage];
}

/// <summary>
/// What <see cref="DenseDistillLoop"/> needs of a task (segmentation, detection): its live teachers, its student,
/// batches of training images, the student's supervised step and probe loss for the strategies without teachers or
/// with a probe, and its two test metrics.
/// </summary>
public abstract class DenseTask
{
    /// <summary>Where the images come from, for messages.</summary>
    public abstract string Source { get; }

    public abstract int TrainCount { get; }

    public abstract IReadOnlyList<int> TeacherWidths { get; }

    /// <summary>The student (made once, from the recipe's spec and the generator given).</summary>
    public abstract IDenseStudent CreateStudent(string spec, Rng rng);

    public abstract DenseBatch NewBatch(int images);

    /// <summary>Training images <paramref name="indices"/> into the batch, and binds their targets to the student.</summary>
    public abstract void Fill(ReadOnlySpan<int> indices, DenseBatch batch);

    /// <summary>Teacher t in eval mode on the batch: its class-logit rows into <paramref name="rows"/>, then its image embedding.</summary>
    public abstract ReadOnlySpan<float> RunTeacher(int teacher, DenseBatch batch, Span<float> rows);

    /// <summary>The student's own loss on the (filled) batch: training forward and backward when <paramref name="train"/>, else an eval forward.</summary>
    public abstract double StudentLoss(DenseBatch batch, bool train);

    /// <summary>The two test metrics of the student (mIoU and pixel accuracy; AP and AP50).</summary>
    public abstract (double First, double Second) Evaluate();
}
