using MtkdRl.Backends;
using MtkdRl.Core.Distill;
using MtkdRl.Tests.Support;
using Xunit;

namespace MtkdRl.Tests.Ilgpu;

/// <summary>
/// ILGPU's CPU accelerator emulates float atomics with a compare-exchange loop that never ends on a NaN; the
/// kernels leave non-finite contributions out of their accumulators, so every pass keeps the non-finite-input
/// contract there too (and the self-check's poisoning case passes on that accelerator).
/// </summary>
public sealed class IlgpuNonFiniteTests
{
    [Trait("Category", "Slow")]
    [SkippableTheory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void Gradient_and_fused_passes_keep_the_contract_on_a_non_finite_teacher_row(float bad)
    {
        var shape = new DistillShape(4, 3, 5, 2);
        var x = new DistillInputs(shape);
        var r = new Random(3);
        foreach (var a in new[] { x.Zs, x.Zt, x.Fs, x.Ft }) for (int i = 0; i < a.Length; i++) a[i] = (float)r.NextDouble();
        Array.Fill(x.Wl, 0.5f);
        Array.Fill(x.Wf, 0.5f);
        x.Zt[(1 * shape.B + 2) * shape.C + 3] = bad;  // teacher 1, row 2
        var backend = SharedBackends.GetOrSkip("ilgpu-cpu");
        using var session = backend.CreateSession(shape);
        session.Upload(x);
        var stats = new DistillStats(shape);
        var grads = new DistillGrads(shape);
        foreach (var fused in new[] { true, false })
        {
            session.PoisonOutputs();
            var run = Task.Run(() =>
            {
                if (fused) session.Fused(DistillHyper.Default);
                else { session.Stats(DistillHyper.Default); session.Gradient(DistillHyper.Default); }
                session.Synchronize();
            });
            Assert.True(run.Wait(TimeSpan.FromMinutes(2)), $"the {(fused ? "fused" : "gradient")} pass did not finish");
            session.DownloadStats(stats);
            session.DownloadGrads(grads);
            Assert.True(float.IsNaN(stats.LseT[2 * shape.K + 1]), $"lse_t[2,1] = {stats.LseT[2 * shape.K + 1]}");
            var error = Assert.Throws<MtkdRl.Core.MtkdInputException>(() => DistillValidation.CheckStatsFinite(x, stats));
            Assert.Contains("teacher 1, row 2", error.Message);
            for (int b = 0; b < shape.B; b++)
            {
                if (b == 2) continue;
                Assert.True(float.IsFinite(grads.RowLoss[b]), $"row_loss[{b}] = {grads.RowLoss[b]}");
                for (int c = 0; c < shape.C; c++) Assert.True(float.IsFinite(grads.Dzs[b * shape.C + c]), $"dzs[{b},{c}]");
            }
        }
    }

    [SkippableFact]
    public void The_self_check_passes_every_case_on_the_cpu_accelerator()
    {
        var backend = SharedBackends.GetOrSkip("ilgpu-cpu");
        var results = BackendSelfCheck.Run(backend, [new DistillShape(10, 4, 20, 8)], TestSeeds.Next(), small: true);
        Assert.All(results, r => Assert.True(r.Passed, $"{r.Name}: {r.Detail}"));
    }
}
