using System.Runtime.InteropServices;

namespace MtkdRl.Native;

/// <summary>SIMD level of the native CPU kernels (mirrors mtkd_simd in native/include/mtkd.h).</summary>
public enum NativeSimd { Auto = 0, Scalar = 1, Avx2 = 2, Avx512 = 3 }

/// <summary>Status of a native call (mirrors mtkd_status).</summary>
public enum MtkdStatus { Ok = 0, InvalidArgument = 1, Unsupported = 2, OutOfMemory = 3, Internal = 4 }

/// <summary>What the CPU supports, as mtkd_cpu_features reports it: instruction sets, OneShufflePort where vector
/// shuffles issue on one port (Intel's cores), which the op's gradient pass plans around, and LastLevelCache where the
/// OS reports an L3 cache, in which a pass that fits half of it leaves its gradients instead of streaming them (and
/// asks for its next rows into L1 rather than L2).</summary>
[Flags]
public enum NativeCpuFeatures { None = 0, Avx2Fma = 1, Avx512 = 2, OneShufflePort = 4, LastLevelCache = 8, All = ~0 }

/// <summary>mtkd_shape: B rows, K teachers, C classes, D [K] widths and their prefix sums feat_off [K+1].</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct MtkdShape
{
    public int B, K, C;
    public int* D;
    public int* FeatOff;
}

/// <summary>mtkd_hyper.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct MtkdHyper
{
    public float Temperature, ACe, AKd, Beta, CosEps;
    /// <summary>1/B' (rows with a label), or 0 when every row is ignored.</summary>
    public float InvCountedRows;
    /// <summary>mtkd_divergence (the value of <see cref="Core.Distill.LogitDivergence"/>) and its parameters.</summary>
    public int Divergence;
    public float DivAlpha, DivBeta;
    /// <summary>mtkd_feature_loss (the value of <see cref="Core.Distill.FeatureLoss"/>).</summary>
    public int FeatureLoss;
}

/// <summary>mtkd_inputs: pointers to the batch in the layouts of <see cref="Core.Distill.DistillShape"/>.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct MtkdInputs
{
    public float* Zs, Zt, Fs, Ft;
    public int* Y;
    public float* Wl, Wf;
}

/// <summary>mtkd_stats: [B,K] per-teacher statistics, then [B] student ones.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct MtkdStats
{
    public float* Kl, CeT, Ht, Conf, Hit, Cos, Mse, LseT;
    public float* CeS, LseS1, LseST;
}

/// <summary>mtkd_grads.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct MtkdGrads
{
    public float* Dzs, Dfs, RowLoss;
}
