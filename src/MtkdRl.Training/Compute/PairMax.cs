using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MtkdRl.Training;

/// <summary>
/// The two vectorised sweeps of 2x2, stride-2 max pooling on rows of even width, which together pick the
/// first maximum of each window in row-major order:
///   <see cref="Horizontal"/>: for each adjacent pair (x[2j], x[2j+1]) the larger, the left one on a tie;
///   <see cref="Vertical"/>: for two rows of those pair maxima, the lower one only when strictly larger.
/// A candidate that is NaN always wins, so NaN propagates. Indices travel with the values: each output
/// carries the flat index of the input element it came from.
/// </summary>
internal static class PairMax
{
    /// <summary>
    /// For j in [0, pairs): value[j] = max(x[2j], x[2j+1]) (left on ties), index[j] = firstIndex + 2j (+1 when the
    /// right one won).
    /// </summary>
    public static void Horizontal(ReadOnlySpan<float> x, int pairs, int firstIndex, Span<float> value, Span<int> index)
    {
        ref float src = ref MemoryMarshal.GetReference(x);
        ref float dst = ref MemoryMarshal.GetReference(value);
        ref int at = ref MemoryMarshal.GetReference(index);
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var lanes = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            for (; j <= pairs - 16; j += 16)
            {
                var lo = Vector512.LoadUnsafe(ref Unsafe.As<float, ulong>(ref src), (nuint)j);
                var hi = Vector512.LoadUnsafe(ref Unsafe.As<float, ulong>(ref src), (nuint)(j + 8));
                var left = Vector512.Narrow(lo, hi).AsSingle();
                var right = Vector512.Narrow(lo >> 32, hi >> 32).AsSingle();
                var takeRight = Vector512.GreaterThan(right, left) | ~Vector512.Equals(right, right);
                Vector512.ConditionalSelect(takeRight, right, left).StoreUnsafe(ref dst, (nuint)j);
                (Vector512.Create(firstIndex + 2 * j) + lanes - takeRight.AsInt32()).StoreUnsafe(ref at, (nuint)j);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var lanes = Vector256.Create(0, 2, 4, 6, 8, 10, 12, 14);
            for (; j <= pairs - 8; j += 8)
            {
                var lo = Vector256.LoadUnsafe(ref Unsafe.As<float, ulong>(ref src), (nuint)j);
                var hi = Vector256.LoadUnsafe(ref Unsafe.As<float, ulong>(ref src), (nuint)(j + 4));
                var left = Vector256.Narrow(lo, hi).AsSingle();
                var right = Vector256.Narrow(lo >> 32, hi >> 32).AsSingle();
                var takeRight = Vector256.GreaterThan(right, left) | ~Vector256.Equals(right, right);
                Vector256.ConditionalSelect(takeRight, right, left).StoreUnsafe(ref dst, (nuint)j);
                (Vector256.Create(firstIndex + 2 * j) + lanes - takeRight.AsInt32()).StoreUnsafe(ref at, (nuint)j);
            }
        }
        for (; j < pairs; j++)
        {
            float left = Unsafe.Add(ref src, 2 * j), right = Unsafe.Add(ref src, 2 * j + 1);
            bool takeRight = right > left || float.IsNaN(right);
            Unsafe.Add(ref dst, j) = takeRight ? right : left;
            Unsafe.Add(ref at, j) = firstIndex + 2 * j + (takeRight ? 1 : 0);
        }
    }

    /// <summary>out = bottom where bottom &gt; top or bottom is NaN, else top; the index goes with the value.</summary>
    public static void Vertical(ReadOnlySpan<float> top, ReadOnlySpan<int> topIndex, ReadOnlySpan<float> bottom,
        ReadOnlySpan<int> bottomIndex, Span<float> value, Span<int> index)
    {
        int n = value.Length;
        // Vectors cover [0, n) with the last one moved back to end at n: the overlap is recomputed, identically.
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            for (int i = 0; ; i += 8)
            {
                if (i > n - 8) i = n - 8;
                var t = Vector256.Create(top.Slice(i, 8));
                var b = Vector256.Create(bottom.Slice(i, 8));
                var take = Vector256.GreaterThan(b, t) | ~Vector256.Equals(b, b);
                Vector256.ConditionalSelect(take, b, t).CopyTo(value.Slice(i, 8));
                Vector256.ConditionalSelect(take.AsInt32(), Vector256.Create(bottomIndex.Slice(i, 8)), Vector256.Create(topIndex.Slice(i, 8)))
                    .CopyTo(index.Slice(i, 8));
                if (i == n - 8) return;
            }
        }
        if (Vector128.IsHardwareAccelerated && n >= 4)
        {
            for (int i = 0; ; i += 4)
            {
                if (i > n - 4) i = n - 4;
                var t = Vector128.Create(top.Slice(i, 4));
                var b = Vector128.Create(bottom.Slice(i, 4));
                var take = Vector128.GreaterThan(b, t) | ~Vector128.Equals(b, b);
                Vector128.ConditionalSelect(take, b, t).CopyTo(value.Slice(i, 4));
                Vector128.ConditionalSelect(take.AsInt32(), Vector128.Create(bottomIndex.Slice(i, 4)), Vector128.Create(topIndex.Slice(i, 4)))
                    .CopyTo(index.Slice(i, 4));
                if (i == n - 4) return;
            }
        }
        for (int i = 0; i < n; i++)
        {
            bool take = bottom[i] > top[i] || float.IsNaN(bottom[i]);
            value[i] = take ? bottom[i] : top[i];
            index[i] = take ? bottomIndex[i] : topIndex[i];
        }
    }
}
