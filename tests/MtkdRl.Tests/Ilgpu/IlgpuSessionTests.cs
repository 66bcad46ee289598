using ILGPU;
using ILGPU.Runtime;
using MtkdRl.Core.Distill;
using MtkdRl.Gpu;
using MtkdRl.Gpu.Ilgpu;
using MtkdRl.Tests.Distill;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Ilgpu;

/// <summary>The ilgpu backend's own promises, on ILGPU's CPU accelerator (the GPU simulator).</summary>
public class IlgpuSessionTests
{
    private static IlgpuBackend Shared => (IlgpuBackend)SharedBackends.GetOrSkip("ilgpu-cpu");

    [Fact]
    public void Sessions_share_the_compiled_kernels()
    {
        // A backend of its own: the shared one may be compiling other kernels for other tests meanwhile.
        using var backend = new IlgpuBackend(GpuDevice.Cpu);
        Assert.Equal(0, backend.Kernels.CompiledCount);
        var a = new DistillShape(3, 7, [4, 2]);
        var b = new DistillShape(5, 11, [3]);

        using (var first = backend.CreateSession(a))
        {
            first.Upload(DistillInputFactory.Create(a, TestSeeds.Next()));
            first.Stats(DistillHyper.Default);
            first.Synchronize();
        }
        Assert.Equal(1, backend.Kernels.CompiledCount);

        using var second = backend.CreateSession(b);
        second.Upload(DistillInputFactory.Create(b, TestSeeds.Next()));
        second.Stats(DistillHyper.Default);
        second.Gradient(DistillHyper.Default);
        second.Stats(DistillHyper.Default);
        second.Synchronize();
        Assert.Equal(2, backend.Kernels.CompiledCount);
    }

    [Fact]
    public void Session_views_have_the_documented_sizes()
    {
        var shape = new DistillShape(5, 13, [4, 1, 9]);
        using var s = Shared.CreateSession(shape);
        int bk = shape.B * shape.K;
        Assert.Equal(shape.B * shape.C, s.Zs.Length);
        Assert.Equal(shape.K * shape.B * shape.C, s.Zt.Length);
        Assert.Equal(shape.B * shape.F, s.Fs.Length);
        Assert.Equal(shape.B * shape.F, s.Ft.Length);
        Assert.Equal(shape.B, s.Y.Length);
        Assert.Equal(bk, s.Wl.Length);
        Assert.Equal(bk, s.Wf.Length);
        Assert.Equal(shape.K, s.Widths.Length);
        Assert.Equal(shape.K + 1, s.Offsets.Length);
        foreach (var view in new[] { s.Kl, s.CeT, s.Ht, s.Conf, s.Hit, s.Cos, s.Mse, s.LseT })
            Assert.Equal(bk, view.Length);
        foreach (var view in new[] { s.CeS, s.LseS1, s.LseST, s.RowLoss })
            Assert.Equal(shape.B, view.Length);
        Assert.Equal(shape.B * shape.C, s.Dzs.Length);
        Assert.Equal(shape.B * shape.F, s.Dfs.Length);
        Assert.Equal(shape.OffsetsArray(), s.Offsets.GetAsArray());
        Assert.Equal(shape.WidthsArray(), s.Widths.GetAsArray());
    }

    [Fact]
    public void Passes_read_what_device_code_writes_into_the_views()
    {
        var shape = new DistillShape(4, 9, [3, 5]);
        int seed = TestSeeds.Next();
        var x = DistillInputFactory.Create(shape, seed);
        using var s = Shared.CreateSession(shape);
        s.Upload(x);

        // Replace zs and fs on the device only, as a GPU training loop would.
        var rng = new Random(seed);
        for (int i = 0; i < x.Zs.Length; i++) x.Zs[i] = (float)(4 * rng.NextDouble() - 2);
        for (int i = 0; i < x.Fs.Length; i++) x.Fs[i] = (float)(2 * rng.NextDouble() - 1);
        s.Zs.CopyFromCPU(x.Zs);
        s.Fs.CopyFromCPU(x.Fs);

        var h = DistillHyper.Default;
        s.PoisonOutputs();
        s.Fused(h);
        var stats = new DistillStats(shape);
        var grads = new DistillGrads(shape);
        s.DownloadStats(stats);
        s.DownloadGrads(grads);
        var x64 = ReferenceDistill.Inputs64.From(x);
        var want = ReferenceDistill.ComputeStats(x64, h);
        var wantGrads = ReferenceDistill.ComputeGrads(x64, want, h);
        DistillAgreement.CompareOne($"seed {seed} lse_s1", want.LseS1, stats.LseS1, DistillAgreement.StatsTolerance);
        DistillAgreement.CompareOne($"seed {seed} kl", want.Kl, stats.Kl, DistillAgreement.StatsTolerance);
        DistillAgreement.CompareOne($"seed {seed} cos", want.Cos, stats.Cos, DistillAgreement.StatsTolerance);
        DistillAgreement.CompareOne($"seed {seed} dfs", wantGrads.Dfs, grads.Dfs, DistillAgreement.GradTolerance);
    }

    [Fact]
    public void Poison_fills_every_output_with_nan()
    {
        var shape = new DistillShape(3, 5, [2, 3]);
        using var s = Shared.CreateSession(shape);
        s.Upload(DistillInputFactory.Create(shape, TestSeeds.Next()));
        s.Fused(DistillHyper.Default);
        s.PoisonOutputs();
        var stats = new DistillStats(shape);
        var grads = new DistillGrads(shape);
        s.DownloadStats(stats);
        s.DownloadGrads(grads);
        foreach (var (name, data) in stats.Named().Concat(grads.Named()))
            Assert.True(data.All(float.IsNaN), $"{name} is not all NaN after PoisonOutputs");
    }

    [Fact]
    public void Passes_refuse_to_run_out_of_order()
    {
        var shape = new DistillShape(2, 3, [1]);
        using var s = Shared.CreateSession(shape);
        Assert.Throws<InvalidOperationException>(() => s.Stats(DistillHyper.Default));
        Assert.Throws<InvalidOperationException>(() => s.UploadWeights(new float[2], new float[2]));
        s.Upload(DistillInputFactory.Create(shape, TestSeeds.Next()));
        Assert.Throws<InvalidOperationException>(() => s.Gradient(DistillHyper.Default));
        Assert.Throws<MtkdRl.Core.MtkdInputException>(() => s.Stats(DistillHyper.Default with { Temperature = 0f }));
        Assert.Throws<MtkdRl.Core.MtkdInputException>(() => s.DownloadStats(new DistillStats(new DistillShape(2, 3, [2]))));
    }

    [Fact]
    public void Launch_shape_follows_teachers_and_shared_memory()
    {
        var k = Shared.Kernels;
        Assert.Equal(1, k.WarpsFor(1));
        Assert.Equal(3, k.WarpsFor(3));
        Assert.Equal(DistillKernels.MaxWarps, k.WarpsFor(DistillShape.MaxTeachers));
        // 48 KiB less the static reserve: two rows (fused) fit up to C = 5888, one row up to C = 11776.
        Assert.True(k.RowsInShared(DistillPass.Fused, 5888));
        Assert.False(k.RowsInShared(DistillPass.Fused, 5889));
        Assert.True(k.RowsInShared(DistillPass.Stats, 11776));
        Assert.False(k.RowsInShared(DistillPass.Stats, 11777));
        Assert.True(k.RowsInShared(DistillPass.Gradient, 11776));
    }
}
