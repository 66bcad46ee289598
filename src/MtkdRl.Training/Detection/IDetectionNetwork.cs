namespace MtkdRl.Training;

/// <summary>
/// A detector as evaluation and distillation use it, in eval mode: images [N, Ch, H, W] in; class logits
/// [N * L, C + 1] (row n * L + y * Wg + x, background in column 0), <see cref="BoxCoding"/> outputs [N * L, 4] and an
/// image embedding [N, D] out, on a grid of Wg x Hg locations at output stride s (docs/DETECTION.md). Implemented by
/// mtkd's own <see cref="Detector"/> and by networks run elsewhere (an ONNX teacher).
/// </summary>
public interface IDetectionNetwork
{
    /// <summary>What the network is, for messages: its spec, or its model file.</summary>
    string Description { get; }

    SampleShape InputShape { get; }

    /// <summary>C: object classes (categories 1..C).</summary>
    int Classes { get; }

    /// <summary>C + 1: background and the C classes.</summary>
    int ClassColumns { get; }

    /// <summary>s: pixels per location along each axis.</summary>
    int Stride { get; }

    int GridWidth { get; }

    int GridHeight { get; }

    /// <summary>L = Wg * Hg: output locations per image.</summary>
    int Locations { get; }

    int EmbeddingWidth { get; }

    /// <summary>Runs <paramref name="images"/> images in eval mode; the three outputs hold theirs.</summary>
    void Infer(ReadOnlySpan<float> x, int images);

    /// <summary>[N * L, C + 1] of the last <see cref="Infer"/>.</summary>
    ReadOnlySpan<float> ClassLogits { get; }

    /// <summary>[N * L, 4] of the last <see cref="Infer"/>.</summary>
    ReadOnlySpan<float> BoxOutputs { get; }

    /// <summary>[N, D] of the last <see cref="Infer"/>.</summary>
    ReadOnlySpan<float> Embedding { get; }
}
