using System.Globalization;

namespace MtkdRl.Core.Distill;

/// <summary>The logit divergence of the op's KD term (docs/DESIGN.md §7); <see cref="DistillLossCatalog"/> names them.</summary>
public enum LogitDivergence
{
    /// <summary>KL(teacher || student) at temperature T, the op's original term.</summary>
    Kl = 0,
    /// <summary>KL(student || teacher).</summary>
    ReverseKl = 1,
    /// <summary>Generalised Jensen-Shannon with mixing coefficient beta: M = beta pt + (1 - beta) ps.</summary>
    Jsd = 2,
    /// <summary>Decoupled KD: alpha TCKD + beta NCKD, which needs the row's label.</summary>
    Dkd = 3,
}

/// <summary>The feature loss of the op's feature term (docs/DESIGN.md §7).</summary>
public enum FeatureLoss
{
    /// <summary>(1/D) sum (fs - ft)^2, the op's original term.</summary>
    Mse = 0,
    /// <summary>1 - cos(fs, ft), with the cosine statistic's eps.</summary>
    Cosine = 1,
    /// <summary>(1/D) sum huber(fs - ft) with threshold 1 (PyTorch's smooth_l1_loss, beta = 1).</summary>
    SmoothL1 = 2,
}

/// <summary>
/// Which logit divergence and feature loss the op computes, with the divergence's parameters. The default value
/// is today's op (kl + mse): every backend runs it on its original code path. The [B,K] statistics "kl" and "mse"
/// hold the selected divergence (times T^2) and the selected feature loss, so the agents read them unchanged.
/// </summary>
/// <param name="Divergence">The logit divergence.</param>
/// <param name="DivAlpha">DKD's alpha (weight of TCKD); 0 for the others.</param>
/// <param name="DivBeta">JSD's mixing coefficient beta, or DKD's beta (weight of NCKD); 0 for kl and reverse-kl.</param>
/// <param name="Feature">The feature loss.</param>
public readonly record struct DistillLoss(LogitDivergence Divergence, float DivAlpha, float DivBeta, FeatureLoss Feature)
{
    /// <summary>kl + mse: the op as it always was.</summary>
    public static DistillLoss Default => default;

    public bool IsDefault => this == default;

    /// <summary>The divergence as `--kd-loss` writes it, parameters included (e.g. "dkd:alpha=1,beta=8").</summary>
    public string KdName => DistillLossCatalog.Entry(Divergence).Format(this);

    /// <summary>The feature loss as `--feature-loss` writes it.</summary>
    public string FeatureName => DistillLossCatalog.Entry(Feature).Name;

    public override string ToString() => $"{KdName} + {FeatureName}";

    /// <summary>Throws a one-line error when a parameter is outside its range (see the catalog entries).</summary>
    public void Validate() => DistillLossCatalog.Entry(Divergence).Check(this);

    internal static string Number(float v) => v.ToString(CultureInfo.InvariantCulture); // shortest round-trip form
}
