using MtkdRl.Training;

namespace MtkdRl.Tests.Training;

/// <summary>One CPU compute context (native GEMM, two threads so the split loops run split) for every training test.</summary>
public static class TrainingTestCompute
{
    private static readonly Lazy<CpuCompute> Instance = new(() => new CpuCompute(threads: 2));

    public static CpuCompute Shared => Instance.Value;
}
