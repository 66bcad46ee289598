namespace MtkdRl.Core.Distill;

/// <summary>
/// One implementation of the fused multi-teacher distillation op (docs/DESIGN.md §2): reference, native,
/// ilgpu or cuda. A backend is cheap to keep and expensive to create (it may own a device context
/// and compiled kernels); sessions hold the buffers for one shape.
/// </summary>
public interface IDistillBackend : IDisposable
{
    /// <summary>Stable name used by the CLI and in benchmark records (e.g. "native", "ilgpu", "cuda").</summary>
    string Name { get; }

    /// <summary>What runs the kernels, for humans (e.g. "AVX-512, 2 threads", "NVIDIA H100 (CUDA 12.4)").</summary>
    string Device { get; }

    /// <summary>True when math runs with approximate exp/log (GPU intrinsics): tests use the looser tolerance.</summary>
    bool ApproximateMath { get; }

    /// <summary>Allocates the buffers for one batch shape.</summary>
    IDistillSession CreateSession(DistillShape shape);

    /// <summary>
    /// Whether this backend computes <paramref name="loss"/> (docs/DESIGN.md §7). Every backend computes the default
    /// (kl + mse); a pass asked for a loss its backend lacks refuses it with a one-line error, never computing another.
    /// </summary>
    bool Supports(DistillLoss loss) => loss.IsDefault;

    /// <summary>
    /// Whether a teacher may have no features (D_k = 0: cos = mse = 0, no feature term, nothing of fs, ft or dfs
    /// read or written). The dense step's pixel rows, whose features are once per image, use it to skip the feature
    /// work; on a backend without it they carry one zero feature per teacher. Other backends refuse such a shape.
    /// </summary>
    bool SupportsFeaturelessTeachers => false;
}

/// <summary>
/// Buffers for one <see cref="DistillShape"/> on one backend, and the three passes over them.
/// Passes may run asynchronously on devices: call <see cref="Synchronize"/> before timing ends;
/// downloads synchronize by themselves.
/// <para>Pass order: <see cref="Stats"/> then <see cref="Gradient"/> (the agent picks weights between
/// them and calls <see cref="UploadWeights"/>), or <see cref="Fused"/> alone when the weights are known
/// in advance. Every pass writes every element of its outputs.</para>
/// <para>Non-finite inputs never crash a pass and are always visible afterwards, without a separate scan:
/// a NaN or ±Inf anywhere in teacher k's logits of row b makes lse_t[b,k] NaN; one in teacher k's slice of
/// fs or ft in row b makes cos[b,k] and mse[b,k] NaN; one in zs row b makes lse_s1[b] and lse_st[b] NaN.
/// The other outputs of such a row are unspecified; every other row is computed normally.
/// <see cref="DistillValidation.CheckStatsFinite"/> turns this into a one-line error naming teacher and row.</para>
/// </summary>
public interface IDistillSession : IDisposable
{
    DistillShape Shape { get; }

    /// <summary>
    /// Makes a batch current: checks sizes and labels, then copies it to the backend (host backends may
    /// keep a reference instead: the arrays must not change until the passes that read them are done).
    /// </summary>
    void Upload(DistillInputs inputs);

    /// <summary>Replaces only the weights wl, wf [B,K] of the current batch.</summary>
    void UploadWeights(float[] wl, float[] wf);

    /// <summary>Pass 1: statistics (and log-sum-exps for pass 2) from zs, zt, fs, ft, y.</summary>
    void Stats(in DistillHyper hyper);

    /// <summary>Pass 2: gradients and per-row loss from the inputs, the weights and pass 1's statistics.</summary>
    void Gradient(in DistillHyper hyper);

    /// <summary>Both passes in one sweep for weights known in advance.</summary>
    void Fused(in DistillHyper hyper);

    /// <summary>Waits until every pass issued so far has finished.</summary>
    void Synchronize();

    void DownloadStats(DistillStats destination);

    void DownloadGrads(DistillGrads destination);

    /// <summary>Fills every output buffer with NaN, so a test can prove a pass writes all of it.</summary>
    void PoisonOutputs();
}
