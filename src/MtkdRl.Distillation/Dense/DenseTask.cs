using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>A batch of a dense task: N images [N, input] and their row labels [N * P] (-1 = ignored).</summary>
public class DenseBatch(int images, int inputSize, int rowsPerImage)
{
    public int Images { get; } = images;

    public float[] X { get; } = new float[images * inputSize];

    public int[] Labels { get; } = new int[images * rowsPerImage];
}

/// <summary>
/// What <see cref="DenseDistillLoop"/> needs of a task (segmentation, detection): its live teachers and their pool,
/// its student (made, saved into a run folder and read back), batches of training images, the student's supervised
/// step and probe loss for the strategies without teachers or with a probe, and its two test metrics.
/// </summary>
public abstract class DenseTask
{
    public abstract TaskKind Kind { get; }

    /// <summary>Where the images come from, for messages.</summary>
    public abstract string Source { get; }

    /// <summary>The scenes' fingerprint, as the pool records it.</summary>
    public abstract string DataFingerprint { get; }

    public abstract DensePool Pool { get; }

    public abstract int TrainCount { get; }

    public abstract IReadOnlyList<int> TeacherWidths { get; }

    /// <summary>The student (made once, from the recipe's spec and the generator given).</summary>
    public abstract IDenseStudent CreateStudent(string spec, Rng rng);

    /// <summary>The output grid of the student made by <see cref="CreateStudent"/>: the rows a teacher's logits are given on.</summary>
    public abstract DenseCacheGrid StudentGrid { get; }

    /// <summary>The student's checkpoint at <paramref name="basePath"/> (NAME.json + NAME.safetensors), after <paramref name="epoch"/> epochs and <paramref name="step"/> steps.</summary>
    public abstract void SaveStudent(string basePath, int epoch, long step);

    /// <summary>Copies the checkpoint at <paramref name="basePath"/> into the student; one line when it holds another spec.</summary>
    public abstract void LoadStudent(string basePath);

    public abstract DenseBatch NewBatch(int images);

    /// <summary>Training images <paramref name="indices"/> into the batch, and binds their targets to the student.</summary>
    public abstract void Fill(ReadOnlySpan<int> indices, DenseBatch batch);

    /// <summary>Teacher t in eval mode on the batch: its class-logit rows into <paramref name="rows"/>, then its image embedding.</summary>
    public abstract ReadOnlySpan<float> RunTeacher(int teacher, DenseBatch batch, Span<float> rows);

    /// <summary>The student's own loss on the (filled) batch: training forward and backward when <paramref name="train"/>, else an eval forward.</summary>
    public abstract double StudentLoss(DenseBatch batch, bool train);

    /// <summary>The two test metrics of the student (mIoU and pixel accuracy; AP and AP50).</summary>
    public abstract (double First, double Second) Evaluate();

    /// <summary>A saved student's tensors copied into <paramref name="to"/> when spec and classes agree, else one line naming <paramref name="path"/>.</summary>
    protected static void CopyStudent<TModel>(string path, TModel saved, TModel to, Func<TModel, (string Spec, int Classes, IEnumerable<NamedTensor> Tensors)> describe)
    {
        var (fromSpec, fromClasses, fromTensors) = describe(saved);
        var (spec, classes, tensors) = describe(to);
        if (fromSpec != spec || fromClasses != classes)
            throw new MtkdInputException($"{path}.json: student {fromSpec} with {fromClasses} classes, the run needs {spec} with {classes}");
        foreach (var (into, from) in tensors.Zip(fromTensors)) from.Value.CopyTo(into.Value, 0);
    }

    /// <summary>The checkpoint config of a run's student: its class names, the scenes, the input normalisation, where the run is.</summary>
    protected static CheckpointConfig StudentConfig(IReadOnlyList<string> classNames, DatasetIdentity dataset, NormalizationRecord normalization, int epoch, long step) =>
        new() { Name = "student", ClassNames = classNames, Dataset = dataset, Normalization = normalization, Epoch = epoch, Step = step };
}
