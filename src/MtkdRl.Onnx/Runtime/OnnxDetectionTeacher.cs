using MtkdRl.Core;
using MtkdRl.Data.Batching;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>
/// A detector run through ONNX Runtime: canvases normalised as the scenes' networks see them in, class logits
/// [N * L, C+1], box outputs [N * L, 4] and an image embedding out, as <see cref="IDetectionNetwork"/> for the
/// evaluator, the dense cache and live runs. Outputs given as planes are turned into location rows.
/// </summary>
public sealed class OnnxDetectionTeacher : IDetectionNetwork, IDisposable
{
    private readonly OnnxLiveTeacher _live;
    private readonly OnnxDetectionOutputs _grid;
    private float[] _logitRows = [], _boxRows = [];
    private int _batch;

    public OnnxDetectionTeacher(OnnxLiveTeacher live, ChannelNormalization normalization)
    {
        _live = live;
        _grid = live.Model.Detection ?? throw new ArgumentException("the model was not opened as a detector", nameof(live));
        Normalization = normalization;
    }

    /// <summary>The pool's ONNX detector <paramref name="teacher"/> on the canvases of <paramref name="scenes"/>, batches normalised as its networks see them.</summary>
    public static OnnxDetectionTeacher Open(string poolDir, PoolTeacher teacher, DetectionScenes scenes, int threads)
    {
        var norm = ScenesNormalization(scenes);
        return new(new OnnxLiveTeacher(poolDir, teacher, scenes.InputShape, scenes.ClassCount + 1, norm, threads, TaskKind.Detection), norm);
    }

    /// <summary>The normalisation every network of <paramref name="scenes"/> sees its canvases in.</summary>
    public static ChannelNormalization ScenesNormalization(DetectionScenes scenes)
    {
        var (mean, std) = scenes.Normalization();
        return new ChannelNormalization(mean, std);
    }

    /// <summary>The normalisation the batches given to <see cref="Infer"/> are in.</summary>
    public ChannelNormalization Normalization { get; }

    public OnnxDetectionOutputs Outputs => _grid;

    public string Description => $"{Path.GetFileName(_live.Model.Path)} (ONNX)";

    public SampleShape InputShape => _live.Model.Sample;

    public int Classes => ClassColumns - 1;

    public int ClassColumns => _live.Model.Classes;

    public int Stride => _grid.Stride;

    public int GridWidth => _grid.GridWidth;

    public int GridHeight => _grid.GridHeight;

    public int Locations => _grid.Locations;

    public int EmbeddingWidth => _live.EmbeddingWidth;

    public void Infer(ReadOnlySpan<float> x, int images)
    {
        _live.Forward(x, images);
        _batch = images;
        if (!_grid.LogitsAsRows) ToRows(_live.Logits, images, ClassColumns, ref _logitRows);
        if (!_grid.BoxesAsRows) ToRows(_live.Boxes, images, BoxCoding.Outputs, ref _boxRows);
    }

    public ReadOnlySpan<float> ClassLogits => _grid.LogitsAsRows ? _live.Logits : _logitRows.AsSpan(0, _batch * Locations * ClassColumns);

    public ReadOnlySpan<float> BoxOutputs => _grid.BoxesAsRows ? _live.Boxes : _boxRows.AsSpan(0, _batch * Locations * BoxCoding.Outputs);

    public ReadOnlySpan<float> Embedding => _live.Embedding;

    /// <summary>Planes [n, K, L] as rows [n * L, K] in <paramref name="rows"/>, grown when too small.</summary>
    private void ToRows(ReadOnlySpan<float> planes, int n, int k, ref float[] rows)
    {
        if (rows.Length < n * Locations * k) rows = new float[n * Locations * k];
        PixelRows.ToRows(planes, n, k, Locations, rows);
    }

    public void Dispose() => _live.Dispose();
}
