using ILGPU;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>
/// How the kernels divide a row among threads: a group owns one row b; "group" helpers are called by every
/// thread of it, "warp" helpers by the 32 lanes of one warp, which owns one teacher at a time. Reductions use
/// warp shuffles and per-warp slots in shared memory; atomics touch global memory only in the variant for
/// class rows too long for shared memory (<see cref="GlobalRowScratch"/>).
/// </summary>
public static class GroupSync
{
    /// <summary>Largest number of warps a group may have (size of the per-warp shared arrays).</summary>
    public const int MaxWarpsPerGroup = 32;

    /// <summary>Warps in this group.</summary>
    public static int WarpCount => Group.DimX / Warp.WarpSize;

    /// <summary>Butterfly sum over the warp: every lane ends with the total (bit-identical in all lanes).</summary>
    public static float WarpSum(float v)
    {
        for (int mask = 1; mask < Warp.WarpSize; mask <<= 1) v += Warp.ShuffleXor(v, mask);
        return v;
    }

    /// <summary>Zeroes a warp-owned slice.</summary>
    public static void WarpClear(ArrayView<float> slice, int n)
    {
        for (int i = Warp.LaneIdx; i < n; i += Warp.WarpSize) slice[i] = 0f;
    }

    /// <summary>Zeroes a group-owned row (the caller places the barrier).</summary>
    public static void Clear(ArrayView<float> row, int c)
    {
        for (int i = Group.IdxX; i < c; i += Group.DimX) row[i] = 0f;
    }

    /// <summary>Sum of the per-warp partials in shared memory, in warp order (identical in every thread).</summary>
    public static float SumPartials(ArrayView<float> partials)
    {
        float s = 0f;
        for (int w = 0; w < WarpCount; w++) s += partials[w];
        return s;
    }
}
