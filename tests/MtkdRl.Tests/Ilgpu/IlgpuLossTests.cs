using MtkdRl.Core.Distill;
using MtkdRl.Gpu;
using MtkdRl.Gpu.Ilgpu;
using MtkdRl.Tests.Distill;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Ilgpu;

/// <summary>
/// The catalog losses other than kl + mse on ILGPU (docs/DESIGN.md §7): computed, never refused, on the KL
/// kernels' global-memory variant too, and with the non-finite-input contract kept by the sweeps.
/// </summary>
public class IlgpuLossTests
{
    private static readonly Lazy<IlgpuBackend> GlobalRows = new(() => new IlgpuBackend(GpuDevice.Cpu, sharedRowBudgetBytes: 0));

    public static TheoryData<string> Losses()
    {
        var data = new TheoryData<string>();
        foreach (var loss in DistillLossCatalog.AllCombinations().Where(l => !l.IsDefault)) data.Add(LossCatalogTests.Name(loss));
        return data;
    }

    [Theory]
    [MemberData(nameof(Losses))]
    public void Every_catalog_loss_runs_and_agrees_with_rows_in_global_memory(string lossName)
    {
        var backend = GlobalRows.Value;
        var hyper = DistillHyper.Default with { Temperature = 2f, Loss = LossCatalogTests.FromName(lossName) };
        Assert.True(backend.Supports(hyper.Loss), lossName);
        var shape = new DistillShape(6, 23, [7, 12, 1]);
        Assert.False(backend.Kernels.RowsInShared(DistillPass.Stats, shape.C));
        int seed = TestSeeds.Next();
        DistillAgreement.Check(backend, DistillInputFactory.Create(shape, seed, ignoredFraction: 0.2), hyper, $"{lossName} global rows seed {seed}");
    }

    [SkippableTheory]
    [InlineData("jsd", "cosine")]
    [InlineData("dkd", "smooth-l1")]
    [InlineData("reverse-kl", "cosine")]
    public void A_non_finite_input_makes_only_its_own_statistics_nan(string kd, string feature)
    {
        var shape = new DistillShape(4, 5, [3, 2]);
        var x = DistillInputFactory.Create(shape, TestSeeds.Next(), ignoredFraction: 0);
        x.Zt[(1 * shape.B + 2) * shape.C + 3] = float.NaN;            // teacher 1, row 2
        x.Fs[1 * shape.F + shape.OffsetsArray()[0] + 1] = float.PositiveInfinity; // row 1, teacher 0's slice
        var backend = SharedBackends.GetOrSkip("ilgpu-cpu");
        using var session = backend.CreateSession(shape);
        session.Upload(x);
        session.Stats(DistillHyper.Default with { Loss = DistillLossCatalog.Parse(kd, feature) });
        var stats = new DistillStats(shape);
        session.DownloadStats(stats);
        for (int b = 0; b < shape.B; b++)
            for (int k = 0; k < shape.K; k++)
            {
                int i = b * shape.K + k;
                Assert.Equal(b == 2 && k == 1, float.IsNaN(stats.Kl[i]));
                Assert.Equal(b == 1 && k == 0, float.IsNaN(stats.Mse[i]));
            }
    }
}
