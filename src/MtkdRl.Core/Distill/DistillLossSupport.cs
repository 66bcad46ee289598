namespace MtkdRl.Core.Distill;

/// <summary>The one-line refusal of a loss a backend does not implement (docs/DESIGN.md §7).</summary>
public static class DistillLossSupport
{
    /// <summary>Backends that compute every catalog loss.</summary>
    public const string FullBackends = "reference, native, ilgpu, cuda, cuda-emu";

    public static MtkdInputException Refusal(string backend, DistillLoss loss) =>
        new($"{backend}: --kd-loss {loss.KdName} --feature-loss {loss.FeatureName} is not implemented on this backend " +
            $"(every loss runs on: {FullBackends})");

    /// <summary>Throws <see cref="Refusal"/> unless <paramref name="backend"/> computes <paramref name="loss"/>.</summary>
    public static void Require(IDistillBackend backend, DistillLoss loss)
    {
        if (!backend.Supports(loss)) throw Refusal(backend.Name, loss);
    }
}
