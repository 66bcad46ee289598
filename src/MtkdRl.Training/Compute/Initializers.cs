using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>
/// Weight initialisation from an <see cref="Rng"/>, so a seed fixes a model's starting point.
/// fanIn = inputs per output unit (in for Linear, Cin*k*k for Conv2d), fanOut likewise for outputs.
/// </summary>
public static class Initializers
{
    /// <summary>Kaiming (He) normal, N(0, 2/fanIn): keeps activation variance steady through ReLU layers.</summary>
    public static void KaimingNormal(Span<float> weights, int fanIn, Rng rng)
    {
        CheckFan(fanIn, nameof(fanIn));
        double std = Math.Sqrt(2.0 / fanIn);
        for (int i = 0; i < weights.Length; i++) weights[i] = (float)(std * rng.NextGaussian());
    }

    /// <summary>Xavier (Glorot) uniform, U(-a, a) with a = sqrt(6/(fanIn+fanOut)): for layers not followed by ReLU (the classifier).</summary>
    public static void XavierUniform(Span<float> weights, int fanIn, int fanOut, Rng rng)
    {
        CheckFan(fanIn, nameof(fanIn));
        CheckFan(fanOut, nameof(fanOut));
        double bound = Math.Sqrt(6.0 / (fanIn + fanOut));
        for (int i = 0; i < weights.Length; i++) weights[i] = (float)((2 * rng.NextDouble() - 1) * bound);
    }

    private static void CheckFan(int fan, string name)
    {
        if (fan <= 0) throw new MtkdInputException($"initialisation: {name} must be positive (got {fan})");
    }
}
