using MtkdRl.Data.Batching;
using MtkdRl.Data.Datasets;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>A fixed held-out batch and the student's cross-entropy on it (eval mode).</summary>
internal sealed class ProbeBatch
{
    private readonly float[] _images;
    private readonly int[] _labels;
    private readonly int _rows;

    public ProbeBatch(LabeledImages split, ChannelNormalization normalization, int[] rows)
    {
        var loader = new BatchLoader(split, normalization, BatchLoaderOptions.Evaluation(rows.Length), null, rows);
        var batch = loader.CreateBatch();
        loader.TryNext(batch);
        _rows = batch.Count;
        _images = batch.Images.ToArray();
        _labels = batch.Labels.ToArray();
    }

    public double Loss(Model student)
    {
        student.Forward(_images, _rows, training: false);
        return SoftmaxCrossEntropy.Loss(student.Logits, _labels, student.Classes);
    }
}
