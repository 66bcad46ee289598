using MtkdRl.Core;
using MtkdRl.Core.Distill;

namespace MtkdRl.Gpu.Cuda;

/// <summary>
/// A session of the fused op on kernels/distill.cu, for any <see cref="IKernelTarget"/>: the cuda backend
/// and the emulator run exactly this code. Buffers follow <see cref="DistillShape"/>'s layouts; the stats
/// live in one buffer of 8 [B,K] planes then 3 [B] planes, the weights in one buffer [wl | wf].
/// </summary>
internal sealed class CudaDistillSession : IDistillSession
{
    private readonly IKernelTarget _target;
    private readonly DistillKernels.Plan _statsPlan, _gradientPlan, _fusedPlan;
    private readonly IDeviceBuffer<float> _zs, _zt, _fs, _ft, _weights, _stats, _dzs, _dfs, _rowLoss;
    private readonly IDeviceBuffer<int> _labels, _featureOffsets;
    private readonly List<IDisposable> _owned = [];
    private float _inverseCountedRows;
    private bool _uploaded, _statsValid;

    public DistillShape Shape { get; }

    public CudaDistillSession(IKernelTarget target, DistillShape shape, string backendName)
    {
        _target = target;
        Shape = shape;
        long maxShared = DistillKernels.All.Min(k => (long)target.MaxDynamicSharedBytes(k));
        int maxClasses = DistillKernels.MaxClasses(maxShared);
        if (shape.C > maxClasses)
            throw new MtkdInputException(
                $"class count C={shape.C} is more than the {backendName} backend supports here (C <= {maxClasses}: the fused pass keeps {DistillKernels.SharedRows(DistillPass.Fused, 1)} rows of C floats in {maxShared / 1024} KiB of shared memory per block)");
        _statsPlan = DistillKernels.PlanFor(DistillPass.Stats, shape, target.MaxDynamicSharedBytes(DistillKernels.Stats));
        _gradientPlan = DistillKernels.PlanFor(DistillPass.Gradient, shape, target.MaxDynamicSharedBytes(DistillKernels.Gradient));
        _fusedPlan = DistillKernels.PlanFor(DistillPass.Fused, shape, target.MaxDynamicSharedBytes(DistillKernels.Fused));

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

    public void Upload(DistillInputs inputs)
    {
        DistillSessionChecks.CheckUpload(Shape, inputs);
        _uploaded = false;
        _statsValid = false;
        _zs.Upload(inputs.Zs);
        _zt.Upload(inputs.Zt);
        _fs.Upload(inputs.Fs);
        _ft.Upload(inputs.Ft);
        _labels.Upload(inputs.Y);
        UploadWeightsUnchecked(inputs.Wl, inputs.Wf);
        _inverseCountedRows = inputs.InverseCountedRows();
        _uploaded = true;
    }

    public void UploadWeights(float[] wl, float[] wf)
    {
        DistillValidation.CheckWeights(Shape, wl, wf);
        if (!_uploaded) throw new InvalidOperationException("Upload a batch before its weights");
        UploadWeightsUnchecked(wl, wf);
    }

    private void UploadWeightsUnchecked(float[] wl, float[] wf)
    {
        _weights.Upload(wl);
        _weights.Upload(wf, BK);
    }

    public void Stats(in DistillHyper hyper)
    {
        hyper.Validate();
        RequireUpload();
        using var a = new KernelArguments(DistillKernels.Stats);
        a.Pointer(_zs.Pointer).Pointer(_zt.Pointer).Pointer(_fs.Pointer).Pointer(_ft.Pointer).Pointer(_labels.Pointer)
            .Pointer(_featureOffsets.Pointer).Pointer(_stats.Pointer);
        ShapeArguments(a);
        a.Float(hyper.Temperature).Float(1f / hyper.Temperature).Float(hyper.CosEps);
        Launch(a, _statsPlan);
        _statsValid = true;
    }

    public void Gradient(in DistillHyper hyper)
    {
        hyper.Validate();
        RequireUpload();
        if (!_statsValid) throw new InvalidOperationException("Gradient needs the stats pass of the current batch first");
        using var a = new KernelArguments(DistillKernels.Gradient);
        CommonPointers(a);
        ShapeArguments(a);
        a.Float(hyper.Temperature).Float(1f / hyper.Temperature).Float(hyper.ACe).Float(hyper.AKd).Float(hyper.Beta)
            .Float(_inverseCountedRows);
        Launch(a, _gradientPlan);
    }

    public void Fused(in DistillHyper hyper)
    {
        hyper.Validate();
        RequireUpload();
        using var a = new KernelArguments(DistillKernels.Fused);
        CommonPointers(a);
        ShapeArguments(a);
        a.Float(hyper.Temperature).Float(1f / hyper.Temperature).Float(hyper.ACe).Float(hyper.AKd).Float(hyper.Beta)
            .Float(hyper.CosEps).Float(_inverseCountedRows);
        Launch(a, _fusedPlan);
        _statsValid = true;
    }

    private void CommonPointers(KernelArguments a) =>
        a.Pointer(_zs.Pointer).Pointer(_zt.Pointer).Pointer(_fs.Pointer).Pointer(_ft.Pointer).Pointer(_labels.Pointer)
            .Pointer(_featureOffsets.Pointer).Pointer(_weights.Pointer).Pointer(_stats.Pointer).Pointer(_dzs.Pointer)
            .Pointer(_dfs.Pointer).Pointer(_rowLoss.Pointer);

    private void ShapeArguments(KernelArguments a) => a.Int(Shape.B).Int(Shape.K).Int(Shape.C).Int(Shape.F);

    private void Launch(KernelArguments a, DistillKernels.Plan plan)
    {
        a.EnsureComplete();
        _target.Launch(a, plan.Blocks, plan.Threads, plan.SharedBytes);
    }

    private void RequireUpload()
    {
        if (!_uploaded) throw new InvalidOperationException("Upload a batch before running a pass");
    }

    public void Synchronize() => _target.Synchronize();

    public void DownloadStats(DistillStats destination)
    {
        if (!DistillSessionChecks.SameShape(Shape, destination.Shape)) DistillSessionChecks.ShapeMismatch(Shape, destination.Shape);
        _target.Synchronize();
        long offset = 0;
        foreach (var (_, plane) in destination.Named())
        {
            _stats.Download(plane, offset);
            offset += plane.Length;
        }
    }

    public void DownloadGrads(DistillGrads destination)
    {
        if (!DistillSessionChecks.SameShape(Shape, destination.Shape)) DistillSessionChecks.ShapeMismatch(Shape, destination.Shape);
        _target.Synchronize();
        _dzs.Download(destination.Dzs);
        _dfs.Download(destination.Dfs);
        _rowLoss.Download(destination.RowLoss);
    }

    public void PoisonOutputs()
    {
        foreach (var buffer in new[] { _stats, _dzs, _dfs, _rowLoss }) buffer.FillBytes(0xFF);
        _statsValid = false;
    }

    public void Dispose()
    {
        foreach (var buffer in _owned) buffer.Dispose();
        _owned.Clear();
    }
}
