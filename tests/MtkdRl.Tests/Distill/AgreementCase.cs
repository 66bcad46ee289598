using MtkdRl.Backends.Agreement;
using MtkdRl.Core.Distill;

namespace MtkdRl.Tests.Distill;

/// <summary>One shape and input style for the backend matrix.</summary>
/// <param name="Heavy">Too slow for the simulated backends (ILGPU CPU accelerator, CUDA emulator).</param>
/// <param name="Precise">Held to the relative tolerance alone, without <see cref="BackendAgreement.AbsoluteFloor"/>:
/// the tiny-KL cases, whose KLs (around 1e-7) are far below the floor.</param>
public sealed record AgreementCase(string Name, int B, int C, int[] D, LogitStyle Style, double Ignored, float Temperature, bool Heavy,
    bool Precise = false)
{
    public DistillShape Shape => new(B, C, D);
    public DistillHyper Hyper => new(Temperature: Temperature, ACe: 0.9f, AKd: 1.1f, Beta: 5f, CosEps: 1e-8f);

    public static readonly AgreementCase[] All =
    [
        new("B1-K1-C2-D1", 1, 2, [1], LogitStyle.Normal, 0, 4f, false),
        new("primes-ragged", 7, 13, [5, 1, 9], LogitStyle.Normal, 0.15, 4f, false),
        new("T1-odd-widths", 5, 31, [15, 33], LogitStyle.Normal, 0.15, 1f, false),
        new("T0.5-sharp", 6, 17, [8, 8, 8], LogitStyle.Normal, 0.15, 0.5f, false),
        new("extreme-logits", 9, 37, [17, 16], LogitStyle.Extreme, 0.15, 4f, false),
        new("extreme-logits-T1", 4, 10, [3], LogitStyle.Extreme, 0.25, 1f, false),
        new("all-rows-ignored", 3, 11, [4, 6], LogitStyle.Normal, 1.0, 4f, false),
        new("C1000", 3, 1000, [64, 17], LogitStyle.Normal, 0.15, 4f, false),
        new("K130", 2, 7, Enumerable.Range(0, 130).Select(k => 1 + k % 5).ToArray(), LogitStyle.Normal, 0.15, 4f, false),
        new("C1009-K16", 11, 1009, Enumerable.Repeat(129, 16).ToArray(), LogitStyle.Normal, 0.15, 4f, true),
        new("B67-K8-C100-D256", 67, 100, Enumerable.Repeat(256, 8).ToArray(), LogitStyle.Normal, 0.15, 4f, true),
        new("K128-C1000", 5, 1000, Enumerable.Repeat(33, 128).ToArray(), LogitStyle.Normal, 0.15, 2f, true),
        new("C2000-extreme", 4, 2003, [100, 7, 64], LogitStyle.Extreme, 0.15, 4f, true),
        new("tiny-kl-C2-T1", 9, 2, [4, 4], LogitStyle.NearlyEqual, 0.15, 1f, false, Precise: true),
        new("tiny-kl-C10-T8", 16, 10, [4, 4], LogitStyle.NearlyEqual, 0.15, 8f, false, Precise: true),
        new("tiny-kl-C100-T1", 9, 100, [4, 4], LogitStyle.NearlyEqual, 0.15, 1f, false, Precise: true),
        new("B257-K4-C100-D256", 257, 100, Enumerable.Repeat(256, 4).ToArray(), LogitStyle.Normal, 0.15, 4f, true),
        // Teachers without features (D = 0), as the dense step's pixel rows: cos = mse = 0, no feature term.
        new("featureless-B67-K4-C11", 67, 11, [0, 0, 0, 0], LogitStyle.Normal, 0.15, 1f, false),
        new("one-featureless-teacher", 9, 13, [5, 0, 3], LogitStyle.Normal, 0.15, 4f, false),
        // More teachers than an AVX-512 lane group writes as rows of K, on short rows of short slices: the native lane
        // groups sum the slices transposed and write cos and mse one teacher at a time. Heavy: the ILGPU CPU
        // accelerator takes about a minute per loss at 20 teachers.
        new("K20-C11-short-slices", 37, 11, Enumerable.Range(0, 20).Select(k => 1 + k % 3).ToArray(), LogitStyle.Normal,
            0.15, 2f, true),
    ];

    /// <summary>Whether a teacher has no features (D = 0): only backends with SupportsFeaturelessTeachers take it.</summary>
    public bool Featureless => D.Any(d => d == 0);

    /// <summary>
    /// A backend without <see cref="IDistillBackend.SupportsFeaturelessTeachers"/> must refuse a featureless case in
    /// one line when the session is made; the case then reports skipped with that refusal.
    /// </summary>
    public void SkipUnlessSupported(IDistillBackend backend)
    {
        if (!Featureless || backend.SupportsFeaturelessTeachers) return;
        var refusal = Assert.Throws<MtkdRl.Core.MtkdInputException>(() => backend.CreateSession(Shape));
        Assert.DoesNotContain('\n', refusal.Message);
        Skip.If(true, refusal.Message);
    }

    public override string ToString() => Name;
}
