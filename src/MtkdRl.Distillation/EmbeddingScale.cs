using System.Numerics.Tensors;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Datasets;

namespace MtkdRl.Distillation;

/// <summary>
/// One factor per teacher that brings its embeddings to unit root-mean-square, measured once over a spread
/// sample of the cached training rows. Teachers' penultimate activations differ in scale by orders of
/// magnitude (a linear teacher's "embedding" is the normalised image, a CNN's a ReLU layer of any size), and
/// the feature term beta * mse would otherwise be ruled by the loudest teacher whatever its weight, and
/// start far above the logit terms. Scaling keeps each teacher's direction and relative geometry.
/// </summary>
public static class EmbeddingScale
{
    public static float[] Measure(ITeacherSource teachers, LabeledImages train, ChannelNormalization normalization, int sampleRows = 4096)
    {
        int rows = Math.Min(sampleRows, train.Count), k = teachers.K, c = teachers.Classes, f = teachers.Widths.Sum();
        var indices = new int[rows];
        for (int i = 0; i < rows; i++) indices[i] = (int)((long)i * train.Count / rows);
        const int chunk = 256;
        var loader = new BatchLoader(train, normalization, BatchLoaderOptions.Evaluation(chunk), null, indices);
        var batch = loader.CreateBatch();
        var zt = new float[(long)k * chunk * c];
        var ft = new float[(long)chunk * f];
        var sumSquares = new double[k];
        var offsets = new int[k + 1];
        for (int t = 0; t < k; t++) offsets[t + 1] = offsets[t] + teachers.Widths[t];
        while (loader.TryNext(batch))
        {
            int n = batch.Count;
            teachers.Fill(batch.IndexBuffer.AsSpan(0, n), batch.Images, n, zt, ft);
            for (int r = 0; r < n; r++)
            for (int t = 0; t < k; t++)
            {
                var slice = ft.AsSpan(r * f + offsets[t], offsets[t + 1] - offsets[t]);
                sumSquares[t] += TensorPrimitives.Dot(slice, slice);
            }
        }
        var scale = new float[k];
        for (int t = 0; t < k; t++)
        {
            double meanSquare = sumSquares[t] / ((double)rows * (offsets[t + 1] - offsets[t]));
            scale[t] = meanSquare > 1e-20 && double.IsFinite(meanSquare) ? (float)(1 / Math.Sqrt(meanSquare)) : 1f;
        }
        return scale;
    }

    /// <summary>Multiplies teacher t's columns of ft [B,F] by scale[t].</summary>
    public static void Apply(Span<float> ft, int rows, IReadOnlyList<int> widths, ReadOnlySpan<float> scale)
    {
        int f = widths.Sum();
        for (int r = 0; r < rows; r++)
        {
            int offset = r * f;
            for (int t = 0; t < widths.Count; t++)
            {
                var slice = ft.Slice(offset, widths[t]);
                TensorPrimitives.Multiply(slice, scale[t], slice);
                offset += widths[t];
            }
        }
    }
}
