namespace MtkdRl.Training;

/// <summary>
/// Convolution as a GEMM. For a chunk of n samples, the patch matrix col has one row per (ci, ky, kx) and one
/// column per (sample, oy, ox):
///   col[(ci*k + ky)*k + kx, s*P + oy*Wo + ox] = x[s, ci, oy*stride + ky - pad, ox*stride + kx - pad]   (0 outside)
/// with P = Ho*Wo, so that out[co, s*P + p] = sum_r W[co, r] col[r, s*P + p] is one [Cout, K] x [K, n*P] product.
/// <see cref="Scatter"/> is the adjoint (col2im): it adds each col entry back onto the input pixel it came from.
/// </summary>
internal static class Im2Col
{
    /// <summary>Fills col [PatchSize, n*P] from x [n, Ch, H, W] (n samples starting at x[0]).</summary>
    public static void Gather(ReadOnlySpan<float> x, int n, in ConvGeometry g, Span<float> col, int rowStart, int rowEnd)
    {
        int k = g.Kernel, H = g.Input.Height, W = g.Input.Width, plane = g.Input.Plane, sampleSize = g.Input.Size;
        int Ho = g.OutHeight, Wo = g.OutWidth, P = g.OutPlane, stride = g.Stride, pad = g.Padding;
        long columns = (long)n * P;
        for (int r = rowStart; r < rowEnd; r++)
        {
            int kx = r % k, ky = r / k % k, ci = r / (k * k);
            var row = col.Slice((int)(r * columns), (int)columns);
            // ox range whose source column ix = ox*stride + kx - pad lies inside [0, W).
            int oxStart = Math.Clamp(CeilDiv(pad - kx, stride), 0, Wo);
            int oxEnd = Math.Clamp(CeilDiv(W + pad - kx, stride), oxStart, Wo);
            for (int s = 0; s < n; s++)
            {
                var src = x.Slice(s * sampleSize + ci * plane, plane);
                for (int oy = 0; oy < Ho; oy++)
                {
                    var dst = row.Slice(s * P + oy * Wo, Wo);
                    int iy = oy * stride + ky - pad;
                    if ((uint)iy >= (uint)H)
                    {
                        dst.Clear();
                        continue;
                    }
                    dst[..oxStart].Clear();
                    dst[oxEnd..].Clear();
                    int ix0 = oxStart * stride + kx - pad;
                    var srcRow = src.Slice(iy * W, W);
                    if (stride == 1)
                    {
                        srcRow.Slice(ix0, oxEnd - oxStart).CopyTo(dst[oxStart..oxEnd]);
                    }
                    else
                    {
                        for (int ox = oxStart, ix = ix0; ox < oxEnd; ox++, ix += stride) dst[ox] = srcRow[ix];
                    }
                }
            }
        }
    }

    /// <summary>
    /// Adds col [PatchSize, n*P] onto dx [n, Ch, H, W] for input channels [channelStart, channelEnd)
    /// (each channel's plane is written by the rows of that channel alone, so channel ranges can run in parallel).
    /// </summary>
    public static void Scatter(ReadOnlySpan<float> col, int n, in ConvGeometry g, Span<float> dx, int channelStart, int channelEnd)
    {
        int k = g.Kernel, H = g.Input.Height, W = g.Input.Width, plane = g.Input.Plane, sampleSize = g.Input.Size;
        int Ho = g.OutHeight, Wo = g.OutWidth, P = g.OutPlane, stride = g.Stride, pad = g.Padding;
        long columns = (long)n * P;
        for (int ci = channelStart; ci < channelEnd; ci++)
        {
            for (int ky = 0; ky < k; ky++)
            {
                for (int kx = 0; kx < k; kx++)
                {
                    int r = (ci * k + ky) * k + kx;
                    var row = col.Slice((int)(r * columns), (int)columns);
                    int oxStart = Math.Clamp(CeilDiv(pad - kx, stride), 0, Wo);
                    int oxEnd = Math.Clamp(CeilDiv(W + pad - kx, stride), oxStart, Wo);
                    int ix0 = oxStart * stride + kx - pad;
                    for (int s = 0; s < n; s++)
                    {
                        var dst = dx.Slice(s * sampleSize + ci * plane, plane);
                        for (int oy = 0; oy < Ho; oy++)
                        {
                            int iy = oy * stride + ky - pad;
                            if ((uint)iy >= (uint)H) continue;
                            var src = row.Slice(s * P + oy * Wo, Wo);
                            var dstRow = dst.Slice(iy * W, W);
                            if (stride == 1)
                            {
                                var target = dstRow.Slice(ix0, oxEnd - oxStart);
                                System.Numerics.Tensors.TensorPrimitives.Add(target, src[oxStart..oxEnd], target);
                            }
                            else
                            {
                                for (int ox = oxStart, ix = ix0; ox < oxEnd; ox++, ix += stride) dstRow[ix] += src[ox];
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>Ceiling of a / b for b &gt; 0 and any sign of a.</summary>
    private static int CeilDiv(int a, int b) => a >= 0 ? (a + b - 1) / b : -(-a / b);
}
