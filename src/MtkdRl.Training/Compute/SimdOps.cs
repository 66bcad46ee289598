using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MtkdRl.Training;

/// <summary>Element-wise loops that System.Numerics.Tensors has no single call for.</summary>
internal static class SimdOps
{
    /// <summary>dst = grad where output &gt; 0, else 0 (ReLU's derivative; 0 at the kink, as PyTorch does).</summary>
    public static void ReluBackward(ReadOnlySpan<float> output, ReadOnlySpan<float> grad, Span<float> dst)
    {
        int n = dst.Length, i = 0;
        ref float o = ref MemoryMarshal.GetReference(output);
        ref float g = ref MemoryMarshal.GetReference(grad);
        ref float d = ref MemoryMarshal.GetReference(dst);
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var keep = Vector512.GreaterThan(Vector512.LoadUnsafe(ref o, (nuint)i), Vector512<float>.Zero);
                (Vector512.LoadUnsafe(ref g, (nuint)i) & keep).StoreUnsafe(ref d, (nuint)i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var keep = Vector256.GreaterThan(Vector256.LoadUnsafe(ref o, (nuint)i), Vector256<float>.Zero);
                (Vector256.LoadUnsafe(ref g, (nuint)i) & keep).StoreUnsafe(ref d, (nuint)i);
            }
        }
        for (; i < n; i++) Unsafe.Add(ref d, i) = Unsafe.Add(ref o, i) > 0f ? Unsafe.Add(ref g, i) : 0f;
    }

    /// <summary>sums[j] = sum over rows of m[row, j] for a dense row-major [rows, sums.Length] matrix.</summary>
    public static void ColumnSums(ReadOnlySpan<float> m, int rows, Span<float> sums)
    {
        int cols = sums.Length;
        sums.Clear();
        for (int r = 0; r < rows; r++) TensorPrimitives.Add(sums, m.Slice(r * cols, cols), sums);
    }

    /// <summary>Adds the row vector to each of the rows of a dense row-major [rows, row.Length] matrix.</summary>
    public static void AddRowToEach(Span<float> m, int rows, ReadOnlySpan<float> row)
    {
        int cols = row.Length;
        for (int r = 0; r < rows; r++)
        {
            var dst = m.Slice(r * cols, cols);
            TensorPrimitives.Add(dst, row, dst);
        }
    }

    /// <summary>dst = src * scale + shift.</summary>
    public static void ScaleShift(ReadOnlySpan<float> src, float scale, float shift, Span<float> dst)
    {
        int n = dst.Length, i = 0;
        ref float s = ref MemoryMarshal.GetReference(src);
        ref float d = ref MemoryMarshal.GetReference(dst);
        if (Vector512.IsHardwareAccelerated)
        {
            var a = Vector512.Create(scale);
            var b = Vector512.Create(shift);
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
                Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref s, (nuint)i), a, b).StoreUnsafe(ref d, (nuint)i);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var a = Vector256.Create(scale);
            var b = Vector256.Create(shift);
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
                Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref s, (nuint)i), a, b).StoreUnsafe(ref d, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref d, i) = MathF.FusedMultiplyAdd(Unsafe.Add(ref s, i), scale, shift);
    }
}
