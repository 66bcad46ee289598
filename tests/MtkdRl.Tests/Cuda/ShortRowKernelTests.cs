using MtkdRl.Backends.Agreement;
using MtkdRl.Core.Distill;
using MtkdRl.Gpu.Cuda;
using MtkdRl.Tests.Distill;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Cuda;

/// <summary>
/// The short-row kernels (kernels/distill_short_rows.cuh: a group of lanes per row) on the emulator, forced for every
/// shape they take: against the float64 reference on the agreement matrix's short-row cases and on shapes that cut a
/// block's last row group short, under every catalog loss, with blocks run concurrently, with GPU-precision exp/log,
/// and output for output against the block-per-row kernels on non-finite inputs.
/// </summary>
public class ShortRowKernelTests
{
    private static CudaEmulatorBackend Short(CudaEmulatorMode? mode = null)
    {
        SharedBackends.GetOrSkip("cuda-emu");
        return new CudaEmulatorBackend(mode ?? CudaEmulatorMode.Default) { RowKernels = RowKernels.Short };
    }

    public static TheoryData<string> MatrixCases()
    {
        var data = new TheoryData<string>();
        foreach (var c in AgreementCase.All.Where(c => c.C <= DistillKernels.ShortRowMaxClasses && !c.Heavy && !c.Featureless))
            data.Add(c.Name);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(MatrixCases))]
    public void Matrix_cases_agree_with_the_float64_reference(string caseName)
    {
        var c = AgreementCase.All.Single(a => a.Name == caseName);
        using var backend = Short();
        int seed = TestSeeds.Next();
        var x = DistillInputFactory.Create(c.Shape, seed, c.Style, c.Ignored);
        DistillAgreement.Check(backend, x, c.Hyper, $"short rows {caseName} seed {seed}", absoluteFloor: !c.Precise);
    }

    // B is chosen so the last block's row groups run past B: 32 rows per block at G = 8, 16 at G = 16, 64 at G = 4.
    [SkippableTheory]
    [InlineData(70, 11, new[] { 16, 1, 7, 16 })]
    [InlineData(33, 32, new[] { 40, 3 })]
    [InlineData(17, 17, new[] { 5 })]
    [InlineData(65, 2, new[] { 2, 9 })]
    [InlineData(66, 5, new[] { 33, 4, 1 })]
    [InlineData(40, 8, new[] { 8, 8, 8, 8, 8, 8 })]
    public void Shapes_with_a_short_last_block_agree_with_the_float64_reference(int b, int c, int[] d)
    {
        using var backend = Short();
        int seed = TestSeeds.Next();
        var shape = new DistillShape(b, c, d);
        var x = DistillInputFactory.Create(shape, seed, LogitStyle.Normal, 0.2);
        DistillAgreement.Check(backend, x, DistillHyper.Default with { Temperature = 2f }, $"short rows {shape} seed {seed}");
    }

    // The catalog kernels keep a block per row; what the short-row kernels change under them is the KL pass with a
    // replaced logit term (a_kd 0), a replaced feature term (beta 0), or both: each of the three, and every divergence.
    public static TheoryData<string> Losses() => new() { "kl+cosine", "reverse-kl+mse", "jsd:beta=0.5+smooth-l1", "dkd:alpha=1,beta=8+mse" };

    [SkippableTheory]
    [MemberData(nameof(Losses))]
    public void Catalog_losses_after_the_short_row_kernels_agree_with_the_float64_reference(string lossName)
    {
        using var backend = Short();
        int seed = TestSeeds.Next();
        var shape = new DistillShape(37, 11, [6, 1, 9]);
        var x = DistillInputFactory.Create(shape, seed, LogitStyle.Normal, 0.15);
        var h = DistillHyper.Default with { Loss = LossCatalogTests.FromName(lossName) };
        DistillAgreement.Check(backend, x, h, $"short rows {lossName} seed {seed}");
    }

    [SkippableFact]
    public void Concurrent_blocks_and_gpu_precision_math_agree_with_the_float64_reference()
    {
        int seed = TestSeeds.Next();
        var shape = new DistillShape(100, 11, [16, 16, 16, 16]);
        var x = DistillInputFactory.Create(shape, seed, LogitStyle.Normal, 0.15);
        using (var concurrent = Short(new CudaEmulatorMode(ConcurrentBlocks: 4)))
            DistillAgreement.Check(concurrent, x, DistillHyper.Default, $"short rows, 4 blocks at once, seed {seed}");
        using var approximate = Short(new CudaEmulatorMode(ApproximateMath: true));
        DistillAgreement.Check(approximate, x, DistillHyper.Default, $"short rows, GPU-precision exp/log, seed {seed}");
    }

    [SkippableFact]
    public void Non_finite_inputs_give_the_same_outputs_as_the_block_kernels()
    {
        int seed = TestSeeds.Next();
        var shape = new DistillShape(40, 11, [4, 3, 5]);
        var x = DistillInputFactory.Create(shape, seed, LogitStyle.Normal, 0.15);
        int c = shape.C, f = shape.F;
        x.Zt[(1L * shape.B + 3) * c + 4] = float.NaN;           // teacher 1, row 3
        x.Zt[(2L * shape.B + 7) * c] = float.PositiveInfinity;  // teacher 2, row 7
        x.Zs[11 * c + 10] = float.NegativeInfinity;             // student row 11
        x.Fs[20 * f + 5] = float.NaN;                           // row 20, teacher 1's slice
        x.Ft[30 * f + 1] = float.PositiveInfinity;              // row 30, teacher 0's slice
        using var shortRows = Short();
        using var blocks = new CudaEmulatorBackend(CudaEmulatorMode.Default) { RowKernels = RowKernels.Block };
        var want = Run(blocks, x);
        var got = Run(shortRows, x);
        foreach (var ((name, expected), (_, actual)) in want.Zip(got))
        {
            for (int i = 0; i < expected.Length; i++)
            {
                Assert.True(float.IsNaN(expected[i]) == float.IsNaN(actual[i]), $"seed {seed} {name}[{i}]: block {expected[i]}, short {actual[i]}");
                if (float.IsNaN(expected[i])) continue;
                double tolerance = 1e-5 * Math.Max(1.0, Math.Abs(expected[i]));
                Assert.True(expected[i] == actual[i] || Math.Abs(expected[i] - actual[i]) <= tolerance,
                    $"seed {seed} {name}[{i}]: block {expected[i]}, short {actual[i]}");
            }
        }
    }

    private static List<(string Name, float[] Values)> Run(IDistillBackend backend, DistillInputs x)
    {
        var h = DistillHyper.Default;
        using var session = backend.CreateSession(x.Shape);
        session.Upload(x);
        var stats = new DistillStats(x.Shape);
        var grads = new DistillGrads(x.Shape);
        var fusedStats = new DistillStats(x.Shape);
        var fusedGrads = new DistillGrads(x.Shape);
        session.Stats(h);
        session.DownloadStats(stats);
        session.Gradient(h);
        session.DownloadGrads(grads);
        session.Fused(h);
        session.DownloadStats(fusedStats);
        session.DownloadGrads(fusedGrads);
        return stats.Named().Concat(grads.Named()).Concat(fusedStats.Named().Select(p => ("fused " + p.Item1, p.Item2)))
            .Concat(fusedGrads.Named().Select(p => ("fused " + p.Item1, p.Item2)))
            .Select(p => (p.Item1, p.Item2)).ToList();
    }

    [Theory]
    [InlineData(1, 4)]
    [InlineData(8, 4)]
    [InlineData(9, 8)]
    [InlineData(11, 8)]
    [InlineData(16, 8)]
    [InlineData(17, 16)]
    [InlineData(32, 16)]
    public void Lanes_per_row_hold_at_most_two_columns_each(int c, int lanes)
    {
        Assert.Equal(lanes, DistillKernels.ShortRowWidth(c));
        Assert.True(2 * lanes >= c);
    }

    [Fact]
    public void Auto_takes_the_short_row_kernels_for_large_batches_of_short_rows_only()
    {
        long plenty = 1 << 30;
        var dense = new DistillShape(65536, 11, [16, 16, 16, 16]);
        var plan = DistillKernels.PlanFor(DistillPass.Fused, dense, plenty, RowKernels.Auto);
        Assert.Equal(DistillKernels.FusedShort, plan.Kernel);
        Assert.Equal(256, plan.Threads);
        Assert.Equal(65536 / 32, plan.Blocks);
        Assert.Equal(4 * 32 * 4 * 12, plan.SharedBytes); // 32 row groups, 4 rows of Cp = 12 floats each

        var small = new DistillShape(DistillKernels.ShortRowMinRows - 1, 11, [16]);
        Assert.Equal(DistillKernels.Stats, DistillKernels.PlanFor(DistillPass.Stats, small, plenty, RowKernels.Auto).Kernel);
        Assert.Equal(DistillKernels.StatsShort, DistillKernels.PlanFor(DistillPass.Stats, small, plenty, RowKernels.Short).Kernel);
        var wide = new DistillShape(65536, 33, [16]);
        Assert.Equal(DistillKernels.Gradient, DistillKernels.PlanFor(DistillPass.Gradient, wide, plenty, RowKernels.Short).Kernel);
        Assert.Equal(DistillKernels.Gradient, DistillKernels.PlanFor(DistillPass.Gradient, dense, plenty, RowKernels.Block).Kernel);
    }
}
