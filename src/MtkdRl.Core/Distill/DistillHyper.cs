namespace MtkdRl.Core.Distill;

/// <summary>Scalar parameters of the fused distillation op (docs/DESIGN.md §2).</summary>
/// <param name="Temperature">T: logit KD temperature; p^T = softmax(z/T).</param>
/// <param name="ACe">a_ce: weight of the student's cross-entropy with the labels.</param>
/// <param name="AKd">a_kd: weight of the weighted logit-KD term sum_k wl*KL.</param>
/// <param name="Beta">beta: weight of the weighted feature term sum_k wf*mse.</param>
/// <param name="CosEps">eps in cos = &lt;fs,ft&gt; / (|fs||ft| + eps).</param>
/// <param name="Loss">Which logit divergence and feature loss the KD and feature terms use (default: kl + mse).</param>
public readonly record struct DistillHyper(
    float Temperature = 4f,
    float ACe = 1f,
    float AKd = 1f,
    float Beta = 5f,
    float CosEps = 1e-8f,
    DistillLoss Loss = default)
{
    public static DistillHyper Default => new(4f, 1f, 1f, 5f, 1e-8f);

    public void Validate()
    {
        if (!(Temperature > 0f) || !float.IsFinite(Temperature))
            throw new MtkdInputException($"temperature T must be a positive finite number (got {Temperature})");
        if (!float.IsFinite(ACe) || !float.IsFinite(AKd) || !float.IsFinite(Beta))
            throw new MtkdInputException("loss coefficients a_ce, a_kd and beta must be finite");
        if (!(CosEps >= 0f) || !float.IsFinite(CosEps))
            throw new MtkdInputException($"cosine eps must be a non-negative finite number (got {CosEps})");
        Loss.Validate();
    }
}
