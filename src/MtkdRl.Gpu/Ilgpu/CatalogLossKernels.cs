using ILGPU;
using ILGPU.Runtime;
using MtkdRl.Core.Distill;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>
/// The catalog losses other than kl + mse on one accelerator (docs/DESIGN.md §7), run as the native driver runs
/// them: the stats pass is the KL stats kernel, then the sweeps overwrite the replaced statistics; the gradient
/// pass is the KL gradient kernel with the replaced terms' coefficients (a_kd, beta) at 0, then the sweeps add the
/// selected terms (<see cref="CatalogLossSweeps"/>); the fused pass is stats then gradient. Each sweep is compiled
/// on first use, under the accelerator's compile gate, and kept.
/// </summary>
public sealed class CatalogLossKernels
{
    private readonly Accelerator _accelerator;
    private readonly Lock _compileGate;
    private readonly Lazy<Action<Index1D, CatalogLossArgs>> _reverseKl, _jsd, _dkd, _preciseKl, _cosine, _smoothL1;

    internal CatalogLossKernels(Accelerator accelerator, Lock compileGate)
    {
        _accelerator = accelerator;
        _compileGate = compileGate;
        _reverseKl = Loader(CatalogLossSweeps.Divergence<ReverseKlTerm>);
        _jsd = Loader(CatalogLossSweeps.Divergence<JsdTerm>);
        _dkd = Loader(CatalogLossSweeps.Divergence<DkdTerm>);
        _preciseKl = Loader(CatalogLossSweeps.PreciseKl);
        _cosine = Loader(CatalogLossSweeps.Feature<CosineLossTerm>);
        _smoothL1 = Loader(CatalogLossSweeps.Feature<SmoothL1LossTerm>);
    }

    /// <summary>Queues one pass of kl + mse: the KL kernels, then, after a gradient or fused pass, <see cref="CatalogLossSweeps.PreciseKl"/>.</summary>
    public void LaunchKl(DistillKernels kl, DistillPass pass, DistillKernelArgs args)
    {
        kl.Launch(pass, args);
        if (pass != DistillPass.Stats) Sweeps(DistillLoss.Default, Arguments(args, DistillLoss.Default, stats: false, grads: true));
    }

    /// <summary>Queues one pass of a loss other than kl + mse; <paramref name="args"/> builds a kernel's arguments for given scalars.</summary>
    public void Launch(DistillKernels kl, DistillPass pass, DistillHyper hyper, Func<DistillHyper, DistillKernelArgs> args)
    {
        var loss = hyper.Loss;
        var plain = hyper with { Loss = DistillLoss.Default };
        if (pass != DistillPass.Gradient)
        {
            kl.Launch(DistillPass.Stats, args(plain));
            Sweeps(loss, Arguments(args(hyper), loss, stats: true, grads: false));
        }
        if (pass != DistillPass.Stats)
        {
            var zeroed = plain with
            {
                AKd = loss.Divergence == LogitDivergence.Kl ? hyper.AKd : 0f,
                Beta = loss.Feature == FeatureLoss.Mse ? hyper.Beta : 0f,
            };
            kl.Launch(DistillPass.Gradient, args(zeroed));
            Sweeps(loss, Arguments(args(hyper), loss, stats: false, grads: true));
        }
    }

    private void Sweeps(DistillLoss loss, CatalogLossArgs x)
    {
        var rows = new Index1D(x.A.B);
        var divergence = loss.Divergence switch
        {
            LogitDivergence.ReverseKl => _reverseKl,
            LogitDivergence.Jsd => _jsd,
            LogitDivergence.Dkd => _dkd,
            // kl's own kernels ran; its nearly agreeing rows are written again (gradient pass only).
            LogitDivergence.Kl when x.AddGrads != 0 => _preciseKl,
            _ => null,
        };
        var feature = loss.Feature switch
        {
            FeatureLoss.Cosine => _cosine,
            FeatureLoss.SmoothL1 => _smoothL1,
            _ => null,
        };
        divergence?.Value(rows, x);
        feature?.Value(rows, x);
    }

    private static CatalogLossArgs Arguments(DistillKernelArgs a, DistillLoss loss, bool stats, bool grads) => new()
    {
        A = a,
        DivAlpha = loss.DivAlpha,
        DivBeta = loss.DivBeta,
        WriteStats = stats ? 1 : 0,
        AddGrads = grads ? 1 : 0,
    };

    private Lazy<Action<Index1D, CatalogLossArgs>> Loader(Action<Index1D, CatalogLossArgs> kernel) =>
        new(() =>
        {
            lock (_compileGate) return _accelerator.LoadAutoGroupedStreamKernel(kernel);
        }, LazyThreadSafetyMode.ExecutionAndPublication);
}
