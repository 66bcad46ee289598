using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MtkdRl.Core.Distill;
using MtkdRl.Native;
using MtkdRl.Tests.Distill;

namespace MtkdRl.Tests.Native;

/// <summary>
/// One batch in pinned arrays, with the raw mtkd_* structs pointing into them, so tests can call the exports
/// directly and break one field at a time.
/// </summary>
public sealed unsafe class PinnedBatch
{
    public DistillShape Shape { get; }
    public DistillInputs Inputs { get; }
    public int[] Widths { get; }
    public int[] Offsets { get; }
    public float[][] StatsArrays { get; }
    public float[] Dzs { get; }
    public float[] Dfs { get; }
    public float[] RowLoss { get; }

    public MtkdShape RawShape;
    public MtkdInputs RawInputs;
    public MtkdHyper RawHyper;
    public MtkdStats RawStats;
    public MtkdGrads RawGrads;

    public PinnedBatch(DistillShape shape, int seed, DistillHyper? hyper = null, double ignored = 0.15)
    {
        Shape = shape;
        var x = DistillInputFactory.Create(shape, seed, ignoredFraction: ignored);
        Inputs = new DistillInputs(shape, Pin(x.Zs), Pin(x.Zt), Pin(x.Fs), Pin(x.Ft), Pin(x.Y), Pin(x.Wl), Pin(x.Wf));
        Widths = Pin(shape.WidthsArray());
        Offsets = Pin(shape.OffsetsArray());
        int bk = shape.B * shape.K;
        StatsArrays = [.. Enumerable.Range(0, 8).Select(_ => New(bk)), .. Enumerable.Range(0, 3).Select(_ => New(shape.B))];
        Dzs = New(shape.B * shape.C);
        Dfs = New(shape.B * shape.F);
        RowLoss = New(shape.B);

        RawShape = new MtkdShape { B = shape.B, K = shape.K, C = shape.C, D = P(Widths), FeatOff = P(Offsets) };
        RawInputs = new MtkdInputs
        {
            Zs = P(Inputs.Zs), Zt = P(Inputs.Zt), Fs = P(Inputs.Fs), Ft = P(Inputs.Ft), Y = P(Inputs.Y),
            Wl = P(Inputs.Wl), Wf = P(Inputs.Wf),
        };
        var h = hyper ?? DistillHyper.Default;
        RawHyper = new MtkdHyper
        {
            Temperature = h.Temperature, ACe = h.ACe, AKd = h.AKd, Beta = h.Beta, CosEps = h.CosEps,
            InvCountedRows = Inputs.InverseCountedRows(),
            Divergence = (int)h.Loss.Divergence, DivAlpha = h.Loss.DivAlpha, DivBeta = h.Loss.DivBeta,
            FeatureLoss = (int)h.Loss.Feature,
        };
        var s = StatsArrays;
        RawStats = new MtkdStats
        {
            Kl = P(s[0]), CeT = P(s[1]), Ht = P(s[2]), Conf = P(s[3]), Hit = P(s[4]), Cos = P(s[5]), Mse = P(s[6]),
            LseT = P(s[7]), CeS = P(s[8]), LseS1 = P(s[9]), LseST = P(s[10]),
        };
        RawGrads = new MtkdGrads { Dzs = P(Dzs), Dfs = P(Dfs), RowLoss = P(RowLoss) };
    }

    public MtkdStatus Stats(NativeContextHandle context)
    {
        fixed (MtkdShape* shape = &RawShape)
        fixed (MtkdInputs* inputs = &RawInputs)
        fixed (MtkdHyper* hyper = &RawHyper)
        fixed (MtkdStats* stats = &RawStats)
            return NativeMethods.DistillStats(context, shape, inputs, hyper, stats);
    }

    public MtkdStatus Gradient(NativeContextHandle context)
    {
        fixed (MtkdShape* shape = &RawShape)
        fixed (MtkdInputs* inputs = &RawInputs)
        fixed (MtkdHyper* hyper = &RawHyper)
        fixed (MtkdStats* stats = &RawStats)
        fixed (MtkdGrads* grads = &RawGrads)
            return NativeMethods.DistillGradient(context, shape, inputs, hyper, stats, grads);
    }

    public MtkdStatus Fused(NativeContextHandle context)
    {
        fixed (MtkdShape* shape = &RawShape)
        fixed (MtkdInputs* inputs = &RawInputs)
        fixed (MtkdHyper* hyper = &RawHyper)
        fixed (MtkdStats* stats = &RawStats)
        fixed (MtkdGrads* grads = &RawGrads)
            return NativeMethods.DistillFused(context, shape, inputs, hyper, stats, grads);
    }

    /// <summary>
    /// Points the raw dfs at B F floats that start <paramref name="shift"/> floats past a 64-byte boundary, inside a
    /// fresh NaN-filled pinned array with room on both sides; returns the array and the index where dfs starts.
    /// </summary>
    public (float[] Array, int Start) ShiftDfs(int shift)
    {
        var a = New(Shape.B * Shape.F + 48);
        int start = 16 - (int)(((nuint)P(a) / sizeof(float)) % 16) + shift;
        RawGrads.Dfs = P(a) + start;
        return (a, start);
    }

    /// <summary>The statistics in the order of <see cref="DistillStats.Named"/>.</summary>
    public DistillStats CopyStats()
    {
        var st = new DistillStats(Shape);
        foreach (var ((_, dst), src) in st.Named().Zip(StatsArrays)) src.CopyTo(dst, 0);
        return st;
    }

    public DistillGrads CopyGrads()
    {
        var g = new DistillGrads(Shape);
        Dzs.CopyTo(g.Dzs, 0);
        Dfs.CopyTo(g.Dfs, 0);
        RowLoss.CopyTo(g.RowLoss, 0);
        return g;
    }

    private static T[] Pin<T>(T[] source) where T : unmanaged
    {
        var pinned = GC.AllocateUninitializedArray<T>(source.Length, pinned: true);
        source.CopyTo(pinned, 0);
        return pinned;
    }

    private static float[] New(int n)
    {
        var a = GC.AllocateArray<float>(n, pinned: true);
        Array.Fill(a, float.NaN);
        return a;
    }

    // The arrays live on the pinned object heap, so their addresses never change.
    private static T* P<T>(T[] pinned) where T : unmanaged =>
        (T*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(pinned));
}
