using System.Numerics;
using System.Runtime.InteropServices;

namespace MtkdRl.Strategies;

/// <summary>
/// The paper agent's wide first layer, y = x W^T over a batch, and its weight gradient, register-blocked.
/// <para>Shapes: x [rows, width] row-major, W [outputs, width] row-major (one row per output), y [rows, outputs].
/// The state is wide (S = sum_k (3 + D_k + C), 1,758 for the default pool) and the layer narrow (128), so a
/// row-at-a-time dot product streams all of W from L2 for every row. Here four rows share each load of W and two
/// outputs share each load of x: per vector step 6 loads feed 8 multiply-adds instead of 2 loads feeding 1.
/// The gradient dW[j,:] += sum_r dy[r,j] x[r,:] likewise updates each row of dW once per four rows of x.</para>
/// <para>Summation order differs from a plain dot product (vector lanes, then lanes summed), so results agree
/// with a float64 reference to float rounding, not bit for bit; <c>BlockedLinearTests</c> checks both.</para>
/// </summary>
internal static class BlockedLinear
{
    /// <summary>y[r, j] = sum_s x[r, s] w[j, s].</summary>
    public static void Forward(ReadOnlySpan<float> x, int rows, int width, ReadOnlySpan<float> w, int outputs, Span<float> y)
    {
        Check(x, rows, width, w, outputs, y);
        int r = 0;
        for (; r + 4 <= rows; r += 4)
        {
            var x0 = x.Slice(r * width, width);
            var x1 = x.Slice((r + 1) * width, width);
            var x2 = x.Slice((r + 2) * width, width);
            var x3 = x.Slice((r + 3) * width, width);
            int j = 0;
            for (; j + 2 <= outputs; j += 2)
                Dot4x2(x0, x1, x2, x3, w.Slice(j * width, width), w.Slice((j + 1) * width, width), y, r, j, outputs);
            for (; j < outputs; j++)
            {
                var wj = w.Slice(j * width, width);
                y[r * outputs + j] = Dot(x0, wj);
                y[(r + 1) * outputs + j] = Dot(x1, wj);
                y[(r + 2) * outputs + j] = Dot(x2, wj);
                y[(r + 3) * outputs + j] = Dot(x3, wj);
            }
        }
        for (; r < rows; r++)
        {
            var xr = x.Slice(r * width, width);
            for (int j = 0; j < outputs; j++) y[r * outputs + j] = Dot(xr, w.Slice(j * width, width));
        }
    }

    /// <summary>gw[j, s] += sum_r dy[r, j] x[r, s]; rows whose dy[r, j] is 0 cost nothing for that j.</summary>
    public static void AccumulateWeightGradient(ReadOnlySpan<float> x, int rows, int width, ReadOnlySpan<float> dy, int outputs, Span<float> gw)
    {
        Check(x, rows, width, gw, outputs, dy);
        Span<int> live = stackalloc int[4];
        Span<float> scale = stackalloc float[4];
        for (int j = 0; j < outputs; j++)
        {
            var g = gw.Slice(j * width, width);
            int n = 0;
            for (int r = 0; r < rows; r++)
            {
                float d = dy[r * outputs + j];
                if (d == 0) continue;
                live[n] = r;
                scale[n] = d;
                if (++n == 4)
                {
                    AddScaled4(g, x, width, live, scale);
                    n = 0;
                }
            }
            for (int i = 0; i < n; i++) AddScaled(g, x.Slice(live[i] * width, width), scale[i]);
        }
    }

    private static void Check(ReadOnlySpan<float> x, int rows, int width, ReadOnlySpan<float> w, int outputs, ReadOnlySpan<float> y)
    {
        if (rows < 0 || width < 1 || outputs < 1 || x.Length < rows * width || w.Length < outputs * width || y.Length < rows * outputs)
            throw new ArgumentException($"blocked linear: x [{rows},{width}] ({x.Length}), W [{outputs},{width}] ({w.Length}), y/dy [{rows},{outputs}] ({y.Length})");
    }

    private static void Dot4x2(ReadOnlySpan<float> x0, ReadOnlySpan<float> x1, ReadOnlySpan<float> x2, ReadOnlySpan<float> x3,
        ReadOnlySpan<float> wa, ReadOnlySpan<float> wb, Span<float> y, int r, int j, int outputs)
    {
        int width = wa.Length, s = 0;
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
        if (Vector.IsHardwareAccelerated && width >= Vector<float>.Count)
        {
            // Every span was sliced to width elements; the loads below stay inside [0, width).
            ref float rx0 = ref MemoryMarshal.GetReference(x0), rx1 = ref MemoryMarshal.GetReference(x1);
            ref float rx2 = ref MemoryMarshal.GetReference(x2), rx3 = ref MemoryMarshal.GetReference(x3);
            ref float rwa = ref MemoryMarshal.GetReference(wa), rwb = ref MemoryMarshal.GetReference(wb);
            Vector<float> va0 = default, va1 = default, va2 = default, va3 = default;
            Vector<float> vb0 = default, vb1 = default, vb2 = default, vb3 = default;
            for (; s <= width - Vector<float>.Count; s += Vector<float>.Count)
            {
                var u = (nuint)s;
                var ka = Vector.LoadUnsafe(ref rwa, u);
                var kb = Vector.LoadUnsafe(ref rwb, u);
                var v = Vector.LoadUnsafe(ref rx0, u); va0 += v * ka; vb0 += v * kb;
                v = Vector.LoadUnsafe(ref rx1, u); va1 += v * ka; vb1 += v * kb;
                v = Vector.LoadUnsafe(ref rx2, u); va2 += v * ka; vb2 += v * kb;
                v = Vector.LoadUnsafe(ref rx3, u); va3 += v * ka; vb3 += v * kb;
            }
            a0 = Vector.Sum(va0); a1 = Vector.Sum(va1); a2 = Vector.Sum(va2); a3 = Vector.Sum(va3);
            b0 = Vector.Sum(vb0); b1 = Vector.Sum(vb1); b2 = Vector.Sum(vb2); b3 = Vector.Sum(vb3);
        }
        for (; s < width; s++)
        {
            float ka = wa[s], kb = wb[s];
            a0 += x0[s] * ka; b0 += x0[s] * kb;
            a1 += x1[s] * ka; b1 += x1[s] * kb;
            a2 += x2[s] * ka; b2 += x2[s] * kb;
            a3 += x3[s] * ka; b3 += x3[s] * kb;
        }
        y[r * outputs + j] = a0; y[r * outputs + j + 1] = b0;
        y[(r + 1) * outputs + j] = a1; y[(r + 1) * outputs + j + 1] = b1;
        y[(r + 2) * outputs + j] = a2; y[(r + 2) * outputs + j + 1] = b2;
        y[(r + 3) * outputs + j] = a3; y[(r + 3) * outputs + j + 1] = b3;
    }

    private static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => System.Numerics.Tensors.TensorPrimitives.Dot(a, b);

    private static void AddScaled(Span<float> g, ReadOnlySpan<float> x, float c) =>
        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(x, c, g, g);

    /// <summary>g += c0 x[r0] + c1 x[r1] + c2 x[r2] + c3 x[r3] for the four rows in <paramref name="rows"/>.</summary>
    private static void AddScaled4(Span<float> g, ReadOnlySpan<float> x, int width, ReadOnlySpan<int> rows, ReadOnlySpan<float> c)
    {
        var x0 = x.Slice(rows[0] * width, width);
        var x1 = x.Slice(rows[1] * width, width);
        var x2 = x.Slice(rows[2] * width, width);
        var x3 = x.Slice(rows[3] * width, width);
        float c0 = c[0], c1 = c[1], c2 = c[2], c3 = c[3];
        int s = 0;
        if (Vector.IsHardwareAccelerated && width >= Vector<float>.Count && g.Length >= width)
        {
            // g and the four rows hold at least width elements; the loads and stores stay inside [0, width).
            ref float rg = ref MemoryMarshal.GetReference(g);
            ref float rx0 = ref MemoryMarshal.GetReference(x0), rx1 = ref MemoryMarshal.GetReference(x1);
            ref float rx2 = ref MemoryMarshal.GetReference(x2), rx3 = ref MemoryMarshal.GetReference(x3);
            var k0 = new Vector<float>(c0); var k1 = new Vector<float>(c1);
            var k2 = new Vector<float>(c2); var k3 = new Vector<float>(c3);
            for (; s <= width - Vector<float>.Count; s += Vector<float>.Count)
            {
                var u = (nuint)s;
                var acc = Vector.LoadUnsafe(ref rg, u)
                    + Vector.LoadUnsafe(ref rx0, u) * k0 + Vector.LoadUnsafe(ref rx1, u) * k1
                    + Vector.LoadUnsafe(ref rx2, u) * k2 + Vector.LoadUnsafe(ref rx3, u) * k3;
                acc.StoreUnsafe(ref rg, u);
            }
        }
        for (; s < width; s++) g[s] += x0[s] * c0 + x1[s] * c1 + x2[s] * c2 + x3[s] * c3;
    }
}
