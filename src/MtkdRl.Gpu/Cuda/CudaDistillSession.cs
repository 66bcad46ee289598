using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Gpu.Timing;

namespace MtkdRl.Gpu.Cuda;

/// <summary>
/// A session of the fused op on kernels/distill.cu, for any <see cref="IKernelTarget"/>: the cuda backend
/// and the emulator run exactly this code. Buffers follow <see cref="DistillShape"/>'s layouts; the stats
/// live in one buffer of 8 [B,K] planes then 3 [B] planes, the weights in one buffer [wl | wf].
/// </summary>
internal sealed class CudaDistillSession : DistillSessionBase, IDeviceTimedSession
{
    protected override string BackendName => "cuda";

    private IStreamTimer? _timer;

    private readonly IKernelTarget _target;
    private readonly DistillKernels.Plan _statsPlan, _gradientPlan, _fusedPlan;
    private readonly IDeviceBuffer<float> _zs, _zt, _fs, _ft, _weights, _stats, _dzs, _dfs, _rowLoss;
    private readonly IDeviceBuffer<int> _labels, _featureOffsets;
    private readonly List<IDisposable> _owned = [];

    public CudaDistillSession(IKernelTarget target, DistillShape shape, string backendName, RowKernels rows = RowKernels.Auto) : base(shape)
    {
        DistillSessionChecks.RequireFeatures(shape, backendName);
        _target = target;
        long maxShared = DistillKernels.All.Min(k => (long)target.MaxDynamicSharedBytes(k));
        int maxClasses = DistillKernels.MaxClasses(maxShared);
        if (shape.C > maxClasses)
            throw new MtkdInputException(
                $"class count C={shape.C} is more than the {backendName} backend supports here (C <= {maxClasses}: the fused pass keeps {DistillKernels.SharedRows(DistillPass.Fused, 1)} rows of C floats in {maxShared / 1024} KiB of shared memory per block)");
        _statsPlan = DistillKernels.PlanFor(DistillPass.Stats, shape, target.MaxDynamicSharedBytes(DistillKernels.Stats), rows);
        _gradientPlan = DistillKernels.PlanFor(DistillPass.Gradient, shape, target.MaxDynamicSharedBytes(DistillKernels.Gradient), rows);
        _fusedPlan = DistillKernels.PlanFor(DistillPass.Fused, shape, target.MaxDynamicSharedBytes(DistillKernels.Fused), rows);

        long b = shape.B, k = shape.K, c = shape.C, f = shape.F;
        try
        {
            _zs = Own(target.Allocate<float>(b * c));
            _zt = Own(target.Allocate<float>(k * b * c));
            _fs = Own(target.Allocate<float>(b * f));
            _ft = Own(target.Allocate<float>(b * f));
            _labels = Own(target.Allocate<int>(b));
            _featureOffsets = Own(target.Allocate<int>(k + 1));
            _weights = Own(target.Allocate<float>(2 * b * k));
            _stats = Own(target.Allocate<float>(DistillTraffic.TeacherStatCount * b * k + DistillTraffic.StudentStatCount * b));
            _dzs = Own(target.Allocate<float>(b * c));
            _dfs = Own(target.Allocate<float>(b * f));
            _rowLoss = Own(target.Allocate<float>(b));
            _featureOffsets.Upload(shape.OffsetsArray());
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private IDeviceBuffer<T> Own<T>(IDeviceBuffer<T> buffer) where T : unmanaged
    {
        _owned.Add(buffer);
        return buffer;
    }

    private long BK => (long)Shape.B * Shape.K;

    protected override void UploadInputs(DistillInputs inputs)
    {
        _zs.Upload(inputs.Zs);
        _zt.Upload(inputs.Zt);
        _fs.Upload(inputs.Fs);
        _ft.Upload(inputs.Ft);
        _labels.Upload(inputs.Y);
        UploadWeightsOnly(inputs.Wl, inputs.Wf);
    }

    protected override void UploadWeightsOnly(float[] wl, float[] wf)
    {
        _weights.Upload(wl);
        _weights.Upload(wf, BK);
    }

    protected override void RunPass(DistillPass pass, in DistillHyper hyper)
    {
        if (hyper.Loss.IsDefault)
        {
            LaunchKl(pass, hyper);
            // Rows where teacher and student nearly agree get kl's gradient again in a form that keeps its precision
            // there (kl_gradient in kernels/distill_catalog.cu); every other row's block returns after reading its
            // K weights and divergences.
            if (pass != DistillPass.Stats) LaunchCatalog(CatalogKernels.Gradient, hyper);
            return;
        }
        // The catalog's order (docs/DESIGN.md §7): the KL kernels write every statistic and the cross-entropy part,
        // kernels/distill_catalog.cu overwrites the replaced statistics and adds the replaced terms' gradients.
        var loss = hyper.Loss;
        var plain = hyper with { Loss = DistillLoss.Default };
        if (pass != DistillPass.Gradient)
        {
            LaunchKl(DistillPass.Stats, plain);
            LaunchCatalog(CatalogKernels.Stats, hyper);
        }
        if (pass != DistillPass.Stats)
        {
            LaunchKl(DistillPass.Gradient, plain with
            {
                AKd = loss.Divergence == LogitDivergence.Kl ? hyper.AKd : 0f,
                Beta = loss.Feature == FeatureLoss.Mse ? hyper.Beta : 0f,
            });
            LaunchCatalog(CatalogKernels.Gradient, hyper);
        }
    }

    /// <summary>Every catalog loss: kl + mse on kernels/distill.cu alone, the others with kernels/distill_catalog.cu.</summary>
    protected override bool SupportsLoss(DistillLoss loss) => true;

    private void LaunchCatalog(KernelSignature kernel, in DistillHyper hyper)
    {
        var plan = CatalogKernels.PlanFor(kernel, Shape, _target.MaxDynamicSharedBytes(kernel));
        var loss = hyper.Loss;
        using var a = new KernelArguments(kernel);
        if (kernel == CatalogKernels.Stats)
            a.Pointer(_zs.Pointer).Pointer(_zt.Pointer).Pointer(_fs.Pointer).Pointer(_ft.Pointer).Pointer(_labels.Pointer)
                .Pointer(_featureOffsets.Pointer).Pointer(_stats.Pointer);
        else
            CommonPointers(a);
        ShapeArguments(a);
        a.Int((int)loss.Divergence).Int((int)loss.Feature).Float(hyper.Temperature).Float(1f / hyper.Temperature);
        if (kernel == CatalogKernels.Gradient) a.Float(hyper.ACe).Float(hyper.AKd).Float(hyper.Beta);
        a.Float(loss.DivAlpha).Float(loss.DivBeta).Float(hyper.CosEps);
        if (kernel == CatalogKernels.Gradient) a.Float(InverseCountedRows);
        a.EnsureComplete();
        _target.Launch(a, plan.Blocks, plan.Threads, plan.SharedBytes);
    }

    private void LaunchKl(DistillPass pass, in DistillHyper hyper)
    {
        var plan = pass switch { DistillPass.Stats => _statsPlan, DistillPass.Gradient => _gradientPlan, _ => _fusedPlan };
        using var a = new KernelArguments(plan.Kernel);
        if (pass == DistillPass.Stats)
        {
            a.Pointer(_zs.Pointer).Pointer(_zt.Pointer).Pointer(_fs.Pointer).Pointer(_ft.Pointer).Pointer(_labels.Pointer)
                .Pointer(_featureOffsets.Pointer).Pointer(_stats.Pointer);
            ShapeArguments(a);
            a.Float(hyper.Temperature).Float(1f / hyper.Temperature).Float(hyper.CosEps);
        }
        else
        {
            CommonPointers(a);
            ShapeArguments(a);
            a.Float(hyper.Temperature).Float(1f / hyper.Temperature).Float(hyper.ACe).Float(hyper.AKd).Float(hyper.Beta);
            if (pass == DistillPass.Fused) a.Float(hyper.CosEps);
            a.Float(InverseCountedRows);
        }
        a.EnsureComplete();
        _target.Launch(a, plan.Blocks, plan.Threads, plan.SharedBytes);
    }

    private void CommonPointers(KernelArguments a) =>
        a.Pointer(_zs.Pointer).Pointer(_zt.Pointer).Pointer(_fs.Pointer).Pointer(_ft.Pointer).Pointer(_labels.Pointer)
            .Pointer(_featureOffsets.Pointer).Pointer(_weights.Pointer).Pointer(_stats.Pointer).Pointer(_dzs.Pointer)
            .Pointer(_dfs.Pointer).Pointer(_rowLoss.Pointer);

    private void ShapeArguments(KernelArguments a) => a.Int(Shape.B).Int(Shape.K).Int(Shape.C).Int(Shape.F);

    public override void Synchronize() => _target.Synchronize();

    /// <summary>Back-to-back passes between two events on the launch stream; a contract failure among them is reported.</summary>
    public double MillisecondsPerPass(Action pass, int launches)
    {
        _timer ??= _target.CreateTimer();
        double ms = BackToBack.MillisecondsPerPass(_timer, pass, launches);
        _target.Synchronize();
        return ms;
    }

    protected override void CopyStatsTo(DistillStats destination)
    {
        _target.Synchronize();
        long offset = 0;
        foreach (var (_, plane) in destination.Named())
        {
            _stats.Download(plane, offset);
            offset += plane.Length;
        }
    }

    protected override void CopyGradsTo(DistillGrads destination)
    {
        _target.Synchronize();
        _dzs.Download(destination.Dzs);
        _dfs.Download(destination.Dfs);
        _rowLoss.Download(destination.RowLoss);
    }

    protected override void FillOutputsWithNaN()
    {
        foreach (var buffer in new[] { _stats, _dzs, _dfs, _rowLoss }) buffer.FillBytes(0xFF);
    }

    protected override void ReleaseResources()
    {
        _timer?.Dispose();
        _timer = null;
        foreach (var buffer in _owned) buffer.Dispose();
        _owned.Clear();
    }
}
