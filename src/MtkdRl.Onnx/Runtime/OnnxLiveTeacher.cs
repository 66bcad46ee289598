using MtkdRl.Core;
using MtkdRl.Data.Batching;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>
/// A pool's ONNX teacher run on every batch: the batch arrives normalised as the student sees it, (pixel / 255 -
/// m) / s, and is mapped per channel to what the teacher was imported with, (pixel / 255 - m') / s', that is
/// x' = x s / s' + (m - m') / s', before ONNX Runtime runs it.
/// </summary>
public sealed class OnnxLiveTeacher : IDisposable
{
    private readonly OnnxTeacherModel _model;
    private readonly float[] _scale, _shift;
    private float[] _input = [], _logits = [], _embedding = [], _boxes = [];
    private int _batch;

    public OnnxLiveTeacher(string poolDir, PoolTeacher teacher, SampleShape sample, int classes, ChannelNormalization batchNormalization, int threads = 0,
        TaskKind task = TaskKind.Classification)
        : this(Open(poolDir, teacher, sample, classes, batchNormalization, threads, task), Fed(teacher), batchNormalization)
    {
    }

    /// <summary>A model already open, fed (pixel / 255 - m') / s' per channel (<paramref name="fed"/>), its batches arriving under <paramref name="batchNormalization"/>.</summary>
    public OnnxLiveTeacher(OnnxTeacherModel model, ChannelNormalization fed, ChannelNormalization batchNormalization)
    {
        _model = model;
        int channels = model.Sample.Channels;
        if (fed.Channels != channels || batchNormalization.Channels != channels)
            throw new MtkdInputException($"{model.Path}: its normalisation has {fed.Channels} channels, the images {channels}");
        _scale = new float[channels];
        _shift = new float[channels];
        for (int c = 0; c < channels; c++)
        {
            double s = batchNormalization.Std[c], m = batchNormalization.Mean[c];
            _scale[c] = (float)(s / fed.Std[c]);
            _shift[c] = (float)((m - fed.Mean[c]) / fed.Std[c]);
        }
    }

    private static OnnxTeacherModel Open(string poolDir, PoolTeacher teacher, SampleShape sample, int classes, ChannelNormalization batchNormalization,
        int threads, TaskKind task)
    {
        var onnx = teacher.Onnx ?? throw new MtkdInputException($"teacher '{teacher.Name}' has no ONNX model");
        if (onnx.Mean.Length != sample.Channels || batchNormalization.Channels != sample.Channels)
            throw new MtkdInputException($"{PoolManifest.PathIn(poolDir)}: teacher '{teacher.Name}': its normalisation has {onnx.Mean.Length} channels, the images {sample.Channels}");
        var model = OnnxTeacherModel.Open(Path.Combine(poolDir, onnx.File), new OnnxBindings(onnx.Input, onnx.Logits, onnx.Embedding, onnx.Boxes), sample, classes, threads, task);
        if (model.EmbeddingWidth != teacher.EmbeddingWidth)
        {
            model.Dispose();
            throw new MtkdInputException($"{model.Path}: embedding width {model.EmbeddingWidth}, pool.json records {teacher.EmbeddingWidth} for teacher '{teacher.Name}'");
        }
        return model;
    }

    private static ChannelNormalization Fed(PoolTeacher teacher) => new(teacher.Onnx!.Mean, teacher.Onnx.Std);

    public int EmbeddingWidth => _model.EmbeddingWidth;

    /// <summary>Logits [n, C] (maps [n, C+1, H*W] for a segmentation teacher) of the last <see cref="Forward"/>.</summary>
    public ReadOnlySpan<float> Logits => _logits.AsSpan(0, _batch * _model.LogitsWidth);

    public OnnxTeacherModel Model => _model;

    /// <summary>A detector's box outputs [n, 4 L] of the last <see cref="Forward"/>, in the model's layout.</summary>
    public ReadOnlySpan<float> Boxes => _boxes.AsSpan(0, _batch * (_model.Detection?.BoxesWidth ?? 0));

    /// <summary>Embedding [n, D] of the last <see cref="Forward"/>.</summary>
    public ReadOnlySpan<float> Embedding => _embedding.AsSpan(0, _batch * EmbeddingWidth);

    public void Forward(ReadOnlySpan<float> images, int n)
    {
        var sample = _model.Sample;
        int plane = sample.Plane, size = sample.Size;
        if (_input.Length < n * size) _input = new float[n * size];
        if (_logits.Length < n * _model.LogitsWidth) _logits = new float[n * _model.LogitsWidth];
        if (_embedding.Length < n * EmbeddingWidth) _embedding = new float[n * EmbeddingWidth];
        int boxWidth = _model.Detection?.BoxesWidth ?? 0;
        if (_boxes.Length < n * boxWidth) _boxes = new float[n * boxWidth];
        for (int r = 0; r < n; r++)
            for (int c = 0; c < sample.Channels; c++)
            {
                int at = r * size + c * plane;
                float a = _scale[c], b = _shift[c];
                for (int i = 0; i < plane; i++) _input[at + i] = images[at + i] * a + b;
            }
        _model.Run(_input.AsSpan(0, n * size), n, _logits.AsSpan(0, n * _model.LogitsWidth), _embedding.AsSpan(0, n * EmbeddingWidth), "live batch",
            boxes: _boxes.AsSpan(0, n * boxWidth));
        _batch = n;
    }

    public void Dispose() => _model.Dispose();
}
