using MtkdRl.Data.Batching;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>
/// A segmentation teacher run through ONNX Runtime: canvases normalised as the scenes' networks see them in, logit
/// maps [N, C+1, H*W] (background first) and an image embedding out, as <see cref="ISegmentationNetwork"/> for the
/// evaluator, the dense cache and live runs.
/// </summary>
public sealed class OnnxSegmentationTeacher(OnnxLiveTeacher live) : ISegmentationNetwork, IDisposable
{
    /// <summary>The pool's ONNX segmentation teacher <paramref name="teacher"/> on canvases of <paramref name="canvas"/>, batches normalised by <paramref name="scenes"/>.</summary>
    public static OnnxSegmentationTeacher Open(string poolDir, PoolTeacher teacher, SampleShape canvas, int classes, ChannelNormalization scenes, int threads) =>
        new(new OnnxLiveTeacher(poolDir, teacher, canvas, classes, scenes, threads, logitMaps: true));

    public SampleShape InputShape => live.Model.Sample;

    public int Classes => live.Model.Classes;

    public int Pixels => InputShape.Plane;

    public int EmbeddingWidth => live.EmbeddingWidth;

    public void Infer(ReadOnlySpan<float> x, int images) => live.Forward(x, images);

    public ReadOnlySpan<float> Logits => live.Logits;

    public ReadOnlySpan<float> Embedding => live.Embedding;

    public void Dispose() => live.Dispose();
}
