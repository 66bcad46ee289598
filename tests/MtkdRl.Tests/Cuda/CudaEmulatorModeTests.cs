using MtkdRl.Backends.Agreement;
using MtkdRl.Backends;
using MtkdRl.Core.Distill;
using MtkdRl.Gpu.Cuda;
using MtkdRl.Tests.Distill;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Cuda;

/// <summary>
/// The agreement checks again under the emulator's modes that show what its default hides: two blocks running at
/// once (races between blocks), and exp/log with the precision of the GPU's ex2.approx/lg2.approx (checked with the
/// approximate-math tolerance, as on a GPU).
/// </summary>
public class CudaEmulatorModeTests
{
    public static TheoryData<int, bool> Modes => new() { { 2, false }, { 1, true }, { 2, true } };

    private static CudaEmulatorBackend Backend(int blocks, bool approximate)
    {
        var probe = CudaEmulatorBackend.Probe();
        Skip.IfNot(probe.Available, $"cuda-emu unavailable: {probe.Detail}");
        return new CudaEmulatorBackend(new CudaEmulatorMode(blocks, approximate));
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void The_kernels_agree_with_the_reference(int blocks, bool approximate)
    {
        using var backend = Backend(blocks, approximate);
        Assert.Equal(approximate, backend.ApproximateMath);
        int seed = TestSeeds.Next();
        foreach (var shape in new[] { new DistillShape(7, 45, [7, 33, 1]), new DistillShape(9, 100, [16, 16, 16, 16]) })
            DistillAgreement.Check(backend, DistillInputFactory.Create(shape, seed), DistillHyper.Default with { Temperature = 3f }, $"{backend.Device} {shape} seed {seed}");
        var confident = DistillInputFactory.Create(new DistillShape(5, 33, [8, 4]), seed, LogitStyle.Extreme);
        DistillAgreement.Check(backend, confident, DistillHyper.Default, $"{backend.Device} confident seed {seed}");
    }

    [SkippableTheory]
    [MemberData(nameof(Modes))]
    public void The_self_check_passes(int blocks, bool approximate)
    {
        using var backend = Backend(blocks, approximate);
        var results = BackendSelfCheck.Run(backend, [new DistillShape(10, 4, 40, 8)], TestSeeds.Next(), small: true);
        Assert.All(results, r => Assert.True(r.Passed, $"{backend.Device}: {r.Name}: {r.Detail}"));
    }

    /// <summary>
    /// No `.cu` kernel of the op adds with atomics, so the fused pass's outputs are the same bits on every run even with two
    /// blocks racing: K = 12 teachers on 8 warps (two rounds of the block kernel's stage sums, one warp idle in the
    /// second) at C = 45 (misaligned rows) and C = 100, and 2,050 rows of 11 classes (the short-row kernels).
    /// </summary>
    [SkippableFact]
    public void The_fused_pass_gives_the_same_bits_on_every_run()
    {
        using var backend = Backend(2, false);
        int seed = TestSeeds.Next();
        foreach (var shape in new[]
                 {
                     new DistillShape(5, 45, Enumerable.Repeat(6, 12).ToArray()), new DistillShape(4, 100, Enumerable.Repeat(8, 12).ToArray()),
                     new DistillShape(2050, 11, [4, 4, 4]),
                 })
        {
            var x = DistillInputFactory.Create(shape, seed);
            using var session = backend.CreateSession(shape);
            session.Upload(x);
            var first = FusedOutputs(session, shape);
            var second = FusedOutputs(session, shape);
            foreach (var ((name, want), (_, got)) in first.Zip(second))
                for (int i = 0; i < want.Length; i++)
                    Assert.True(BitConverter.SingleToInt32Bits(want[i]) == BitConverter.SingleToInt32Bits(got[i]),
                        $"{shape} seed {seed}: {name}[{i}] {got[i]:R} against {want[i]:R} on the first run");
        }
    }

    /// <summary>Every output of one fused pass (NaN-poisoned first, so nothing is left from the run before).</summary>
    private static List<(string Name, float[] Data)> FusedOutputs(IDistillSession session, DistillShape shape)
    {
        session.PoisonOutputs();
        session.Fused(DistillHyper.Default);
        var grads = new DistillGrads(shape);
        var stats = new DistillStats(shape);
        session.DownloadGrads(grads);
        session.DownloadStats(stats);
        return grads.Named().Concat(stats.Named()).ToList();
    }

    [SkippableFact]
    public void Approximate_math_differs_from_exact_math_by_about_the_gpus_error()
    {
        using var exact = Backend(1, false);
        using var approximate = Backend(1, true);
        var shape = new DistillShape(6, 50, [4, 4]);
        var x = DistillInputFactory.Create(shape, TestSeeds.Next(), ignoredFraction: 0);
        float[] LseT(CudaEmulatorBackend backend)
        {
            using var session = backend.CreateSession(shape);
            session.Upload(x);
            session.Stats(DistillHyper.Default);
            var stats = new DistillStats(shape);
            session.DownloadStats(stats);
            return stats.LseT;
        }
        var a = LseT(exact);
        var b = LseT(approximate);
        double worst = a.Zip(b).Max(p => Math.Abs(p.First - p.Second) / Math.Max(1e-6, Math.Abs(p.First)));
        Assert.True(worst > 0, "approximate math gave the exact results bit for bit");
        Assert.True(worst < 1e-5, $"approximate math is off by {worst:E2}, far beyond ex2/lg2.approx's 2 ulp");
    }

    [SkippableTheory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    public void Blocks_overlap_in_time_only_in_the_concurrent_mode(int blocks, int seenByTheFirst)
    {
        using var backend = Backend(blocks, approximate: false);
        var target = backend.Target;
        using var arrived = target.Allocate<int>(1);
        using var seen = target.Allocate<int>(2);
        arrived.Upload([0]);
        using (var a = new KernelArguments(SelftestKernels.BlockOverlap))
        {
            a.Pointer(arrived.Pointer).Pointer(seen.Pointer).Int(50_000_000);
            target.Launch(a, 2, 32, 0);
        }
        target.Synchronize();
        var got = new int[2];
        seen.Download(got);
        Assert.Equal(seenByTheFirst, got[0]);
        Assert.Equal(2, got[1]);
    }
}

