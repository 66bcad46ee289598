using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Gpu.Cuda;
using MtkdRl.Tests.Distill;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Cuda;

/// <summary>Session behaviour of the kernels/*.cu backends beyond the shared matrix, run on the emulator.</summary>
public class CudaSessionTests
{
    private const string Backend = "cuda-emu";

    [SkippableFact]
    public void The_largest_class_count_runs_and_agrees_with_the_reference()
    {
        var backend = SharedBackends.GetOrSkip(Backend);
        int c = DistillKernels.MaxClasses(232448);
        int seed = TestSeeds.Next();
        var x = DistillInputFactory.Create(new DistillShape(2, c, [3]), seed);
        DistillAgreement.Check(backend, x, DistillHyper.Default, $"C={c} seed {seed}");
    }

    [SkippableFact]
    public void Blocks_with_fewer_warps_than_teachers_agree_with_the_reference()
    {
        // C = 6000 leaves the fused pass room for 6 warps: 8 teachers spread over 4 warps, two each.
        var backend = SharedBackends.GetOrSkip(Backend);
        int seed = TestSeeds.Next();
        var x = DistillInputFactory.Create(new DistillShape(2, 6000, [1, 8, 3, 4, 5, 6, 7, 9]), seed);
        DistillAgreement.Check(backend, x, DistillHyper.Default with { Temperature = 2f }, $"C=6000 K=8 seed {seed}");
    }

    [SkippableFact]
    public void New_weights_change_the_gradient_without_a_new_upload()
    {
        var backend = SharedBackends.GetOrSkip(Backend);
        int seed = TestSeeds.Next();
        var shape = new DistillShape(5, 23, [4, 9, 2]);
        var x = DistillInputFactory.Create(shape, seed);
        var h = DistillHyper.Default;
        using var session = backend.CreateSession(shape);
        session.Upload(x);
        session.Stats(h);

        var other = DistillInputFactory.Create(shape, seed + 1);
        session.UploadWeights(other.Wl, other.Wf);
        session.PoisonOutputs();
        session.Stats(h);
        session.Gradient(h);
        var grads = new DistillGrads(shape);
        session.DownloadGrads(grads);

        var reweighted = new DistillInputs(shape, x.Zs, x.Zt, x.Fs, x.Ft, x.Y, other.Wl, other.Wf);
        var x64 = ReferenceDistill.Inputs64.From(reweighted);
        var want = ReferenceDistill.ComputeGrads(x64, ReferenceDistill.ComputeStats(x64, h), h);
        foreach (var ((name, expected), (_, got)) in ReferenceDistill.Named(want).Zip(grads.Named()))
            DistillAgreement.CompareOne($"seed {seed} {name}", expected, got, DistillAgreement.GradTolerance);
    }

    [SkippableFact]
    public void Passes_out_of_order_and_bad_arguments_are_refused()
    {
        var backend = SharedBackends.GetOrSkip(Backend);
        var shape = new DistillShape(2, 5, [2, 3]);
        using var session = backend.CreateSession(shape);
        Assert.Throws<InvalidOperationException>(() => session.Stats(DistillHyper.Default));
        Assert.Throws<InvalidOperationException>(() => session.UploadWeights(new float[4], new float[4]));

        session.Upload(DistillInputFactory.Create(shape, TestSeeds.Next()));
        Assert.Throws<InvalidOperationException>(() => session.Gradient(DistillHyper.Default));
        Assert.Throws<MtkdInputException>(() => session.Stats(DistillHyper.Default with { Temperature = 0f }));
        Assert.Throws<MtkdInputException>(() => session.UploadWeights(new float[3], new float[4]));
        Assert.Throws<MtkdInputException>(() => session.DownloadStats(new DistillStats(new DistillShape(2, 5, [2, 4]))));

        session.Stats(DistillHyper.Default);
        session.Gradient(DistillHyper.Default);
        session.PoisonOutputs();
        Assert.Throws<InvalidOperationException>(() => session.Gradient(DistillHyper.Default));
    }

    [SkippableFact]
    public void Every_output_is_written_by_its_pass()
    {
        // Poisoned outputs must come back finite: no element is left to a previous pass or to chance.
        var backend = SharedBackends.GetOrSkip(Backend);
        var shape = new DistillShape(9, 37, [5, 12, 1, 7]);
        var x = DistillInputFactory.Create(shape, TestSeeds.Next(), ignoredFraction: 0.4);
        using var session = backend.CreateSession(shape);
        session.Upload(x);
        var stats = new DistillStats(shape);
        var grads = new DistillGrads(shape);
        foreach (var fused in new[] { false, true })
        {
            session.PoisonOutputs();
            if (fused) session.Fused(DistillHyper.Default);
            else
            {
                session.Stats(DistillHyper.Default);
                session.Gradient(DistillHyper.Default);
            }
            session.DownloadStats(stats);
            session.DownloadGrads(grads);
            foreach (var (name, data) in stats.Named().Concat(grads.Named()))
                Assert.True(DistillValidation.AllFinite(data), $"{(fused ? "fused" : "two-pass")} {name} has an unwritten element");
        }
    }
}
