namespace MtkdRl.Training;

/// <summary>
/// Per-pixel softmax cross-entropy of logits [B, C, H, W] against masks [B, H, W] with ignore value 255:
/// the mean of -log softmax(z_pixel)[label] over the valid pixels of the whole batch, and
/// dL/dz_pixel = (softmax(z_pixel) - onehot(label)) / (valid pixels), 0 at ignored pixels. With no valid
/// pixel, the loss and every gradient are 0. Computed as <see cref="SoftmaxCrossEntropy"/> on pixel rows.
/// </summary>
public sealed class PixelCrossEntropy(int classes, int pixels)
{
    private readonly BatchBuffer<float> _rows = new(classes * pixels), _gradRows = new(classes * pixels);
    private readonly BatchBuffer<int> _labels = new(pixels);

    public int Classes { get; } = classes;

    public int Pixels { get; } = pixels;

    /// <summary>
    /// Loss of <paramref name="logits"/> [images, C, P] against <paramref name="masks"/> [images, P]; writes dL/dz
    /// (times <paramref name="scale"/>) into <paramref name="gradLogits"/> [images, C, P]; returns the unscaled mean.
    /// </summary>
    public double Compute(ReadOnlySpan<float> logits, ReadOnlySpan<byte> masks, int images, Span<float> gradLogits, float scale = 1f)
    {
        int n = images * Pixels;
        var rows = _rows.Rows(images);
        var grad = _gradRows.Rows(images);
        var labels = _labels.Rows(images);
        PixelRows.ToRows(logits, images, Classes, Pixels, rows);
        PixelRows.Labels(masks[..n], Classes, labels);
        double loss = SoftmaxCrossEntropy.Compute(rows.AsSpan(0, n * Classes), labels.AsSpan(0, n), Classes, grad, scale);
        PixelRows.FromRows(grad, images, Classes, Pixels, gradLogits);
        return loss;
    }
}
