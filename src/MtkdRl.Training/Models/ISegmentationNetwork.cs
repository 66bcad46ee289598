namespace MtkdRl.Training;

/// <summary>
/// A segmentation network as evaluation and distillation use it, in eval mode: images [N, Ch, H, W] in, logit maps
/// [N, C+1, H*W] (channel-major per image, background in channel 0) and an image embedding [N, D] out. Implemented by
/// mtkd's own <see cref="SegmentationModel"/> and by networks run elsewhere (an ONNX teacher).
/// </summary>
public interface ISegmentationNetwork
{
    SampleShape InputShape { get; }

    /// <summary>C + 1: the object classes and background.</summary>
    int Classes { get; }

    /// <summary>Pixels per map, H * W.</summary>
    int Pixels { get; }

    int EmbeddingWidth { get; }

    /// <summary>Runs <paramref name="images"/> images in eval mode; <see cref="Logits"/> and <see cref="Embedding"/> hold their outputs.</summary>
    void Infer(ReadOnlySpan<float> x, int images);

    /// <summary>[N, C+1, P] of the last <see cref="Infer"/>.</summary>
    ReadOnlySpan<float> Logits { get; }

    /// <summary>[N, D] of the last <see cref="Infer"/>.</summary>
    ReadOnlySpan<float> Embedding { get; }
}
