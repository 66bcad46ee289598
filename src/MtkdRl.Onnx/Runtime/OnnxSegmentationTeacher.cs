using MtkdRl.Core;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Scenes;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>
/// A segmentation teacher run through ONNX Runtime: canvases normalised as the scenes' networks see them in, logit
/// maps [N, C+1, H*W] (background first) and an image embedding out, as <see cref="ISegmentationNetwork"/> for the
/// evaluator, the dense cache and live runs.
/// </summary>
public sealed class OnnxSegmentationTeacher(OnnxLiveTeacher live, ChannelNormalization normalization) : ISegmentationNetwork, IDisposable
{
    /// <summary>The pool's ONNX segmentation teacher <paramref name="teacher"/> on canvases of <paramref name="canvas"/>, batches normalised by <paramref name="scenes"/>.</summary>
    public static OnnxSegmentationTeacher Open(string poolDir, PoolTeacher teacher, SampleShape canvas, int classes, ChannelNormalization scenes, int threads) =>
        new(new OnnxLiveTeacher(poolDir, teacher, canvas, classes, scenes, threads, TaskKind.Segmentation), scenes);

    /// <summary>The same on the canvases of <paramref name="data"/>, batches normalised as its networks see them (<see cref="SceneInputs.Normalization"/>).</summary>
    public static OnnxSegmentationTeacher Open(string poolDir, PoolTeacher teacher, SceneDataset data, int threads) =>
        Open(poolDir, teacher, Canvas(data), data.ClassCount + 1, SceneInputs.Normalization(data.Train), threads);

    /// <summary>One canvas of <paramref name="data"/> as a network's input shape.</summary>
    public static SampleShape Canvas(SceneDataset data) => SampleShape.Image(data.Train.Channels, data.Train.Canvas, data.Train.Canvas);

    /// <summary>The normalisation the batches given to <see cref="Infer"/> are in.</summary>
    public ChannelNormalization Normalization => normalization;

    public SampleShape InputShape => live.Model.Sample;

    public int Classes => live.Model.Classes;

    public int Pixels => InputShape.Plane;

    public int EmbeddingWidth => live.EmbeddingWidth;

    public void Infer(ReadOnlySpan<float> x, int images) => live.Forward(x, images);

    public ReadOnlySpan<float> Logits => live.Logits;

    public ReadOnlySpan<float> Embedding => live.Embedding;

    public void Dispose() => live.Dispose();
}
