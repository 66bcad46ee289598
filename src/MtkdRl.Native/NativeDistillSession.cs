using MtkdRl.Core;
using MtkdRl.Core.Distill;

namespace MtkdRl.Native;

/// <summary>
/// A session of the native backend. Inputs are borrowed: Upload keeps references to the caller's arrays and
/// each pass pins them only for the duration of the native call. Outputs live in aligned native memory owned
/// by the session; downloads copy them out. Not thread-safe (one caller at a time).
/// </summary>
internal sealed unsafe class NativeDistillSession : DistillSessionBase
{
    private readonly NativeBackend _backend;
    private readonly int[] _widths;
    private readonly int[] _offsets;
    private readonly NativeBuffer _outputs;
    private readonly MtkdStats _stats;
    private readonly MtkdGrads _grads;

    private DistillInputs? _inputs;
    private float[] _wl = [];
    private float[] _wf = [];
    public NativeDistillSession(NativeBackend backend, DistillShape shape) : base(shape)
    {
        _backend = backend;
        _widths = shape.WidthsArray();
        _offsets = shape.OffsetsArray();
        long bk = (long)shape.B * shape.K, b = shape.B, bc = (long)shape.B * shape.C, bf = (long)shape.B * shape.F;
        // Each array starts on a 64-byte boundary (16 floats) of one block.
        long[] lengths = [bk, bk, bk, bk, bk, bk, bk, bk, b, b, b, bc, bf, b];
        long[] starts = new long[lengths.Length];
        long total = 0;
        for (int i = 0; i < lengths.Length; i++)
        {
            starts[i] = total;
            total += (lengths[i] + 15) / 16 * 16;
        }
        _outputs = new NativeBuffer(total);
        float* p = _outputs.Pointer;
        _stats = new MtkdStats
        {
            Kl = p + starts[0], CeT = p + starts[1], Ht = p + starts[2], Conf = p + starts[3], Hit = p + starts[4],
            Cos = p + starts[5], Mse = p + starts[6], LseT = p + starts[7], CeS = p + starts[8], LseS1 = p + starts[9],
            LseST = p + starts[10],
        };
        _grads = new MtkdGrads { Dzs = p + starts[11], Dfs = p + starts[12], RowLoss = p + starts[13] };
        FillOutputsWithNaN();
    }

    protected override void UploadInputs(DistillInputs inputs)
    {
        _inputs = inputs;
        _wl = inputs.Wl;
        _wf = inputs.Wf;
    }

    protected override void UploadWeightsOnly(float[] wl, float[] wf)
    {
        _wl = wl;
        _wf = wf;
    }

    // Passes run synchronously on the calling thread.
    public override void Synchronize() { }

    protected override void CopyStatsTo(DistillStats destination)
    {
        int bk = Shape.B * Shape.K, b = Shape.B;
        Copy(_stats.Kl, destination.Kl, bk); Copy(_stats.CeT, destination.CeT, bk); Copy(_stats.Ht, destination.Ht, bk);
        Copy(_stats.Conf, destination.Conf, bk); Copy(_stats.Hit, destination.Hit, bk); Copy(_stats.Cos, destination.Cos, bk);
        Copy(_stats.Mse, destination.Mse, bk); Copy(_stats.LseT, destination.LseT, bk);
        Copy(_stats.CeS, destination.CeS, b); Copy(_stats.LseS1, destination.LseS1, b); Copy(_stats.LseST, destination.LseST, b);
    }

    protected override void CopyGradsTo(DistillGrads destination)
    {
        Copy(_grads.Dzs, destination.Dzs, Shape.B * Shape.C);
        Copy(_grads.Dfs, destination.Dfs, Shape.B * Shape.F);
        Copy(_grads.RowLoss, destination.RowLoss, Shape.B);
    }

    protected override void FillOutputsWithNaN() =>
        new Span<float>(_outputs.Pointer, checked((int)_outputs.Length)).Fill(float.NaN);

    protected override void ReleaseResources() => _outputs.Dispose();

    /// <summary>Every catalog loss: the ones other than kl + mse in native/src/distill_divergences.inl.</summary>
    protected override bool SupportsLoss(DistillLoss loss) => true;

    protected override string BackendName => "native";

    protected override void RunPass(DistillPass pass, in DistillHyper hyper)
    {
        var x = _inputs!;
        var h = new MtkdHyper
        {
            Temperature = hyper.Temperature, ACe = hyper.ACe, AKd = hyper.AKd, Beta = hyper.Beta, CosEps = hyper.CosEps,
            InvCountedRows = InverseCountedRows,
            Divergence = (int)hyper.Loss.Divergence, DivAlpha = hyper.Loss.DivAlpha, DivBeta = hyper.Loss.DivBeta,
            FeatureLoss = (int)hyper.Loss.Feature,
        };
        var stats = _stats;
        var grads = _grads;
        fixed (int* d = _widths, off = _offsets, y = x.Y)
        fixed (float* zs = x.Zs, zt = x.Zt, fs = x.Fs, ft = x.Ft, wl = _wl, wf = _wf)
        {
            var shape = new MtkdShape { B = Shape.B, K = Shape.K, C = Shape.C, D = d, FeatOff = off };
            var inputs = new MtkdInputs { Zs = zs, Zt = zt, Fs = fs, Ft = ft, Y = y, Wl = wl, Wf = wf };
            var status = pass switch
            {
                DistillPass.Stats => NativeMethods.DistillStats(_backend.Context, &shape, &inputs, &h, &stats),
                DistillPass.Gradient => NativeMethods.DistillGradient(_backend.Context, &shape, &inputs, &h, &stats, &grads),
                _ => NativeMethods.DistillFused(_backend.Context, &shape, &inputs, &h, &stats, &grads),
            };
            NativeErrors.ThrowIfFailed(status);
        }
    }

    private static void Copy(float* source, float[] destination, int count) =>
        new ReadOnlySpan<float>(source, count).CopyTo(destination);
}
