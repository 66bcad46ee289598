using ILGPU;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>
/// Everything a distillation kernel reads or writes, passed by value in one launch. Layouts are those of
/// <see cref="Core.Distill.DistillShape"/>; every view lives on the session's accelerator.
/// </summary>
public struct DistillKernelArgs
{
    public int B, K, C, F;
    /// <summary>D[k] (length K) and the prefix sums FeatureOffset (length K+1), for ragged widths.</summary>
    public ArrayView<int> Widths, Offsets;

    public float Temperature, ACe, AKd, Beta, CosEps;
    /// <summary>1/B' (0 when every row is ignored), computed on the host at upload.</summary>
    public float InvCountedRows;

    public ArrayView<float> Zs, Zt, Fs, Ft, Wl, Wf;
    public ArrayView<int> Y;

    public ArrayView<float> Kl, CeT, Ht, Conf, Hit, Cos, Mse, LseT;
    public ArrayView<float> CeS, LseS1, LseST;

    public ArrayView<float> Dzs, Dfs, RowLoss;

    public readonly float Log2ET => LogitRowStats.Log2E / Temperature;
}
