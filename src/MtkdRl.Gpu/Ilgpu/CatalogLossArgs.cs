namespace MtkdRl.Gpu.Ilgpu;

/// <summary>
/// The arguments of a catalog-loss sweep (<see cref="CatalogLossKernels"/>): the op's views and scalars, the
/// divergence's parameters, and which outputs the sweep writes (the statistic, the gradient terms, or both).
/// </summary>
public struct CatalogLossArgs
{
    public DistillKernelArgs A;
    /// <summary>DKD's alpha; JSD's mixing coefficient or DKD's beta (docs/DESIGN.md §7).</summary>
    public double DivAlpha, DivBeta;
    /// <summary>WriteStats = 1: overwrite kl or mse with the selected loss; AddGrads = 1: add its terms to dzs or dfs and row_loss.</summary>
    public int WriteStats, AddGrads;
}
