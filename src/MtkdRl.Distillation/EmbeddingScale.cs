using System.Numerics.Tensors;
using MtkdRl.Core.Formats;

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
    public static float[] Measure(TeacherCacheFile cache, int sampleRows = 4096)
    {
        var h = cache.Header;
        int rows = Math.Min(sampleRows, h.Rows), k = h.K, c = h.Classes, f = h.F;
        var indices = new int[rows];
        for (int i = 0; i < rows; i++) indices[i] = (int)((long)i * h.Rows / rows);
        const int chunk = 256;
        var zt = new float[(long)k * chunk * c];
        var ft = new float[(long)chunk * f];
        var sumSquares = new double[k];
        var offsets = new int[k + 1];
        for (int t = 0; t < k; t++) offsets[t + 1] = offsets[t] + h.Teachers[t].EmbeddingWidth;
        for (int start = 0; start < rows; start += chunk)
        {
            int n = Math.Min(chunk, rows - start);
            cache.Gather(indices.AsSpan(start, n), zt, ft);
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
