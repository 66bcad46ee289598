namespace MtkdRl.Strategies;

/// <summary>
/// Adam (Kingma &amp; Ba) over one flat float vector, bias-corrected with the step t counted from 1:
///   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2;   theta -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
/// all in float. The agents' parameters are one vector each, so this needs none of the per-tensor bookkeeping
/// of the training library's optimisers. Its moments and step count are part of the owner's checkpoint.
/// </summary>
internal sealed class FlatAdam
{
    private readonly float _beta1, _beta2, _epsilon;

    public FlatAdam(int length, float beta1, float beta2, float epsilon)
    {
        _beta1 = beta1;
        _beta2 = beta2;
        _epsilon = epsilon;
        FirstMoment = new float[length];
        SecondMoment = new float[length];
    }

    /// <summary>m, one per parameter.</summary>
    public float[] FirstMoment { get; }

    /// <summary>v, one per parameter.</summary>
    public float[] SecondMoment { get; }

    /// <summary>Steps taken (t of the last step).</summary>
    public long Steps { get; set; }

    /// <summary>One step of <paramref name="theta"/> along <paramref name="gradient"/> at learning rate <paramref name="lr"/>.</summary>
    public void Step(Span<float> theta, ReadOnlySpan<float> gradient, float lr) => Step(theta, gradient, lr, theta.Length, 1f);

    /// <summary>The same with parameters from <paramref name="scaledFrom"/> on stepped at <paramref name="scale"/> x <paramref name="lr"/>.</summary>
    public void Step(Span<float> theta, ReadOnlySpan<float> gradient, float lr, int scaledFrom, float scale)
    {
        Steps++;
        float b1 = _beta1, b2 = _beta2;
        float c1 = 1f / (1f - MathF.Pow(b1, Steps)), c2 = 1f / (1f - MathF.Pow(b2, Steps));
        var m = FirstMoment;
        var v = SecondMoment;
        for (int i = 0; i < theta.Length; i++)
        {
            float g = gradient[i];
            m[i] = b1 * m[i] + (1f - b1) * g;
            v[i] = b2 * v[i] + (1f - b2) * g * g;
            theta[i] -= (i < scaledFrom ? lr : lr * scale) * (m[i] * c1) / (MathF.Sqrt(v[i] * c2) + _epsilon);
        }
    }
}
