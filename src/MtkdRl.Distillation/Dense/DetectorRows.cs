using MtkdRl.Core;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>
/// A detector as a dense student: a row per output location, its [N * L, C+1] class logits as they are. The box
/// head trains as in the detector's own training: on each training Forward, <see cref="DetectionLoss"/>'s box part
/// on the positive locations of the bound targets (<see cref="Bind"/>) is the <see cref="ExtraLoss"/>, and its
/// gradient goes back with the op's. Teacher boxes are not distilled.
/// </summary>
public sealed class DetectorRows(Detector detector) : IDenseStudent
{
    private int[] _labels = [];
    private float[] _targets = [], _gradBox = [], _gradClass = [];
    private int _images;

    public Detector Detector { get; } = detector;

    public ModelSpec Spec => Detector.Spec;

    public int RowsPerImage => Detector.Locations;

    public int Columns => Detector.ClassColumns;

    public int EmbeddingWidth => Detector.EmbeddingWidth;

    public IEnumerable<Parameter> Parameters => Detector.Parameters;

    public ReadOnlySpan<float> Embedding => Detector.Embedding;

    public double ExtraLoss { get; private set; }

    /// <summary>The location labels [N * L] and box targets [N * L, 4] of the next training Forward.</summary>
    public void Bind(int[] labels, float[] targets)
    {
        if (targets.Length != labels.Length * BoxCoding.Outputs)
            throw new MtkdInputException($"detector rows: {labels.Length} labels need {labels.Length * BoxCoding.Outputs} box targets, got {targets.Length}");
        _labels = labels;
        _targets = targets;
    }

    public void Forward(ReadOnlySpan<float> x, int images, bool training, Span<float> rows)
    {
        Detector.Forward(x, images, training);
        _images = images;
        Detector.ClassLogits.CopyTo(rows);
        if (!training) return;
        int n = images * RowsPerImage;
        if (_labels.Length != n) throw new MtkdInputException($"detector rows: {images} images need {n} bound location labels, got {_labels.Length}");
        if (_gradBox.Length != n * BoxCoding.Outputs) _gradBox = new float[n * BoxCoding.Outputs];
        if (_gradClass.Length != n * Columns) _gradClass = new float[n * Columns];
        var loss = DetectionLoss.Compute(Detector.ClassLogits, Detector.BoxOutputs, _labels, _targets, Columns, _gradClass, _gradBox);
        ExtraLoss = DetectionLoss.BoxWeight * loss.Box;
    }

    public void Backward(ReadOnlySpan<float> gradRows, ReadOnlySpan<float> gradEmbedding) =>
        Detector.Backward(gradRows, _gradBox.AsSpan(0, _images * RowsPerImage * BoxCoding.Outputs), gradEmbedding);
}
