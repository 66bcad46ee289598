using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using MtkdRl.Gpu.Cuda;
using MtkdRl.Gpu.Timing;
using MtkdRl.Core;
using MtkdRl.Core.Distill;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>
/// Device buffers for one <see cref="DistillShape"/> on an ILGPU accelerator, and the three passes over them.
/// The views are public so device code (a GPU training loop) can write zs and fs in place and read the
/// gradients without a round trip through the host; sizes follow <see cref="DistillShape"/>'s layouts.
/// </summary>
public sealed class IlgpuDistillSession : DistillSessionBase, IDeviceTimedSession
{
    protected override string BackendName => "ilgpu";

    private IStreamTimer? _timer;

    private readonly Accelerator _accelerator;
    private readonly DistillKernels _kernels;
    private readonly List<MemoryBuffer> _owned = [];
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _zs, _zt, _fs, _ft, _wl, _wf;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _y, _widths, _offsets;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _kl, _ceT, _hT, _conf, _hit, _cos, _mse, _lseT, _ceS, _lseS1, _lseST;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _dzs, _dfs, _rowLoss;

    internal IlgpuDistillSession(Accelerator accelerator, DistillKernels kernels, DistillShape shape) : base(shape)
    {
        DistillSessionChecks.RequireFeatures(shape, BackendName);
        _accelerator = accelerator;
        _kernels = kernels;
        int b = shape.B, k = shape.K, c = shape.C, f = shape.F, bk = b * k;
        try
        {
            _zs = Floats(b * c); _zt = Floats(k * b * c); _fs = Floats(b * f); _ft = Floats(b * f);
            _wl = Floats(bk); _wf = Floats(bk);
            _y = Ints(b); _widths = Ints(k); _offsets = Ints(k + 1);
            _kl = Floats(bk); _ceT = Floats(bk); _hT = Floats(bk); _conf = Floats(bk); _hit = Floats(bk);
            _cos = Floats(bk); _mse = Floats(bk); _lseT = Floats(bk);
            _ceS = Floats(b); _lseS1 = Floats(b); _lseST = Floats(b);
            _dzs = Floats(b * c); _dfs = Floats(b * f); _rowLoss = Floats(b);
            _widths.View.CopyFromCPU(shape.WidthsArray());
            _offsets.View.CopyFromCPU(shape.OffsetsArray());
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Student logits [B,C].</summary>
    public ArrayView<float> Zs => _zs.AsContiguous();
    /// <summary>Teacher logits [K,B,C].</summary>
    public ArrayView<float> Zt => _zt.AsContiguous();
    /// <summary>Student projections [B,F].</summary>
    public ArrayView<float> Fs => _fs.AsContiguous();
    /// <summary>Teacher embeddings [B,F].</summary>
    public ArrayView<float> Ft => _ft.AsContiguous();
    /// <summary>Labels [B], -1 = ignored. <see cref="DistillSessionBase.Upload"/> also derives 1/B' from them on the host.</summary>
    public ArrayView<int> Y => _y.AsContiguous();
    /// <summary>Weights [B,K].</summary>
    public ArrayView<float> Wl => _wl.AsContiguous();
    public ArrayView<float> Wf => _wf.AsContiguous();
    /// <summary>D [K] and FeatureOffset [K+1], written once at creation.</summary>
    public ArrayView<int> Widths => _widths.AsContiguous();
    public ArrayView<int> Offsets => _offsets.AsContiguous();

    /// <summary>Statistics [B,K] (per teacher) and [B] (student), as in <see cref="DistillStats"/>.</summary>
    public ArrayView<float> Kl => _kl.AsContiguous();
    public ArrayView<float> CeT => _ceT.AsContiguous();
    public ArrayView<float> Ht => _hT.AsContiguous();
    public ArrayView<float> Conf => _conf.AsContiguous();
    public ArrayView<float> Hit => _hit.AsContiguous();
    public ArrayView<float> Cos => _cos.AsContiguous();
    public ArrayView<float> Mse => _mse.AsContiguous();
    public ArrayView<float> LseT => _lseT.AsContiguous();
    public ArrayView<float> CeS => _ceS.AsContiguous();
    public ArrayView<float> LseS1 => _lseS1.AsContiguous();
    public ArrayView<float> LseST => _lseST.AsContiguous();

    /// <summary>Gradients dL/dzs [B,C], dL/dfs [B,F] and each row's loss [B].</summary>
    public ArrayView<float> Dzs => _dzs.AsContiguous();
    public ArrayView<float> Dfs => _dfs.AsContiguous();
    public ArrayView<float> RowLoss => _rowLoss.AsContiguous();

    protected override void UploadInputs(DistillInputs inputs)
    {
        _zs.View.CopyFromCPU(inputs.Zs);
        _zt.View.CopyFromCPU(inputs.Zt);
        _fs.View.CopyFromCPU(inputs.Fs);
        _ft.View.CopyFromCPU(inputs.Ft);
        _y.View.CopyFromCPU(inputs.Y);
        _wl.View.CopyFromCPU(inputs.Wl);
        _wf.View.CopyFromCPU(inputs.Wf);
    }

    protected override void UploadWeightsOnly(float[] wl, float[] wf)
    {
        _wl.View.CopyFromCPU(wl);
        _wf.View.CopyFromCPU(wf);
    }

    protected override void RunPass(DistillPass pass, in DistillHyper hyper)
    {
        if (hyper.Loss.IsDefault) _kernels.Catalog.LaunchKl(_kernels, pass, KernelArgs(hyper));
        else _kernels.Catalog.Launch(_kernels, pass, hyper, h => KernelArgs(h));
    }

    /// <summary>Every catalog loss: kl + mse on the KL kernels, the others through <see cref="CatalogLossKernels"/>.</summary>
    protected override bool SupportsLoss(DistillLoss loss) => true;

    public override void Synchronize() => _accelerator.Synchronize();

    /// <summary>Back-to-back passes between two CUDA events on the accelerator's stream (host time on the CPU accelerator).</summary>
    public double MillisecondsPerPass(Action pass, int launches)
    {
        _timer ??= _accelerator is CudaAccelerator cuda
            ? new CudaEventTimer(action => { CudaDriverTarget.BindContext(cuda); action(); }, ((CudaStream)cuda.DefaultStream).StreamPtr)
            : new HostStreamTimer(Synchronize);
        return BackToBack.MillisecondsPerPass(_timer, pass, launches);
    }

    protected override void CopyStatsTo(DistillStats destination)
    {
        Synchronize();
        _kl.View.CopyToCPU(destination.Kl); _ceT.View.CopyToCPU(destination.CeT); _hT.View.CopyToCPU(destination.Ht);
        _conf.View.CopyToCPU(destination.Conf); _hit.View.CopyToCPU(destination.Hit); _cos.View.CopyToCPU(destination.Cos);
        _mse.View.CopyToCPU(destination.Mse); _lseT.View.CopyToCPU(destination.LseT); _ceS.View.CopyToCPU(destination.CeS);
        _lseS1.View.CopyToCPU(destination.LseS1); _lseST.View.CopyToCPU(destination.LseST);
    }

    protected override void CopyGradsTo(DistillGrads destination)
    {
        Synchronize();
        _dzs.View.CopyToCPU(destination.Dzs); _dfs.View.CopyToCPU(destination.Dfs); _rowLoss.View.CopyToCPU(destination.RowLoss);
    }

    /// <summary>Every output byte set to 0xFF, which reads as a NaN float, on the device's stream.</summary>
    protected override void FillOutputsWithNaN()
    {
        var stream = _accelerator.DefaultStream;
        foreach (var buffer in new[] { _kl, _ceT, _hT, _conf, _hit, _cos, _mse, _lseT, _ceS, _lseS1, _lseST, _dzs, _dfs, _rowLoss })
            buffer.View.MemSet(stream, 0xFF);
    }

    protected override void ReleaseResources()
    {
        _timer?.Dispose();
        _timer = null;
        foreach (var buffer in _owned) buffer.Dispose();
        _owned.Clear();
    }

    /// <summary>The arguments every kernel of this session gets (views plus the pass's scalars).</summary>
    public DistillKernelArgs KernelArgs(in DistillHyper h) => new()
    {
        B = Shape.B, K = Shape.K, C = Shape.C, F = Shape.F, Widths = Widths, Offsets = Offsets,
        Temperature = h.Temperature, ACe = h.ACe, AKd = h.AKd, Beta = h.Beta, CosEps = h.CosEps,
        InvCountedRows = InverseCountedRows,
        Zs = Zs, Zt = Zt, Fs = Fs, Ft = Ft, Wl = Wl, Wf = Wf, Y = Y,
        Kl = Kl, CeT = CeT, Ht = Ht, Conf = Conf, Hit = Hit, Cos = Cos, Mse = Mse, LseT = LseT,
        CeS = CeS, LseS1 = LseS1, LseST = LseST,
        Dzs = Dzs, Dfs = Dfs, RowLoss = RowLoss,
    };

    private MemoryBuffer1D<float, Stride1D.Dense> Floats(int n) => Track(_accelerator.Allocate1D<float>(n));

    private MemoryBuffer1D<int, Stride1D.Dense> Ints(int n) => Track(_accelerator.Allocate1D<int>(n));

    private MemoryBuffer1D<T, Stride1D.Dense> Track<T>(MemoryBuffer1D<T, Stride1D.Dense> buffer) where T : unmanaged
    {
        _owned.Add(buffer);
        return buffer;
    }
}
