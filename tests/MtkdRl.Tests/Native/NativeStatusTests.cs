using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Native;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Native;

/// <summary>
/// The C ABI's argument checks, called directly: every bad argument gives MTKD_INVALID_ARGUMENT and a
/// last-error message naming the function and the argument, and nothing runs.
/// </summary>
public unsafe class NativeStatusTests
{
    private static readonly DistillShape Shape = new(5, 7, [3, 4]);

    private static PinnedBatch Batch() => new(Shape, TestSeeds.Next());

    private static void AssertInvalid(MtkdStatus status, string function, string mention)
    {
        Assert.Equal(MtkdStatus.InvalidArgument, status);
        string message = NativeMethods.LastError();
        Assert.StartsWith(function + ": ", message);
        Assert.Contains(mention, message);
    }

    [Fact]
    public void A_valid_call_succeeds_and_clears_the_last_error()
    {
        using var ctx = NativeContextHandle.Create(NativeSimd.Auto, 1);
        var batch = Batch();
        batch.RawShape.C = 1;
        Assert.Equal(MtkdStatus.InvalidArgument, batch.Stats(ctx));
        Assert.NotEqual("", NativeMethods.LastError());

        batch.RawShape.C = Shape.C;
        Assert.Equal(MtkdStatus.Ok, batch.Stats(ctx));
        Assert.Equal("", NativeMethods.LastError());
        Assert.Equal(MtkdStatus.Ok, batch.Gradient(ctx));
        Assert.Equal(MtkdStatus.Ok, batch.Fused(ctx));
        Assert.All(batch.StatsArrays.SelectMany(a => a), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Null_pointers_are_named()
    {
        using var ctx = NativeContextHandle.Create(NativeSimd.Auto, 1);
        var batch = Batch();
        var stats = batch.RawStats;
        var grads = batch.RawGrads;
        var inputs = batch.RawInputs;
        var shape = batch.RawShape;
        var hyper = batch.RawHyper;

        AssertInvalid(NativeMethods.DistillStats(new NativeContextHandle(), &shape, &inputs, &hyper, &stats), "mtkd_distill_stats", "ctx is null");
        AssertInvalid(NativeMethods.DistillStats(ctx, null, &inputs, &hyper, &stats), "mtkd_distill_stats", "shape is null");
        AssertInvalid(NativeMethods.DistillStats(ctx, &shape, null, &hyper, &stats), "mtkd_distill_stats", "in is null");
        AssertInvalid(NativeMethods.DistillStats(ctx, &shape, &inputs, null, &stats), "mtkd_distill_stats", "hyper is null");
        AssertInvalid(NativeMethods.DistillStats(ctx, &shape, &inputs, &hyper, null), "mtkd_distill_stats", "out is null");
        AssertInvalid(NativeMethods.DistillFused(ctx, &shape, &inputs, &hyper, &stats, null), "mtkd_distill_fused", "out_grads is null");

        batch.RawInputs.Zt = null;
        AssertInvalid(batch.Stats(ctx), "mtkd_distill_stats", "in->zt is null");
        batch.RawInputs = inputs;

        batch.RawInputs.Y = null;
        AssertInvalid(batch.Fused(ctx), "mtkd_distill_fused", "in->y is null");
        batch.RawInputs = inputs;

        // The stats pass does not read the weights; the other two do.
        batch.RawInputs.Wl = null;
        Assert.Equal(MtkdStatus.Ok, batch.Stats(ctx));
        AssertInvalid(batch.Gradient(ctx), "mtkd_distill_gradient", "in->wl is null");
        batch.RawInputs = inputs;

        batch.RawStats.Hit = null;
        AssertInvalid(batch.Stats(ctx), "mtkd_distill_stats", "out->hit is null");
        Assert.Equal(MtkdStatus.Ok, batch.Gradient(ctx)); // the gradient pass does not read hit
        batch.RawStats.LseT = null;
        AssertInvalid(batch.Gradient(ctx), "mtkd_distill_gradient", "stats->lse_t is null");
        batch.RawStats = stats;

        batch.RawGrads.Dfs = null;
        AssertInvalid(batch.Fused(ctx), "mtkd_distill_fused", "out_grads->dfs is null");
        batch.RawGrads = grads;

        batch.RawShape.D = null;
        AssertInvalid(batch.Stats(ctx), "mtkd_distill_stats", "shape->D is null");
    }

    [Fact]
    public void Bad_shapes_are_named()
    {
        using var ctx = NativeContextHandle.Create(NativeSimd.Auto, 1);
        var batch = Batch();
        var shape = batch.RawShape;

        batch.RawShape.B = 0;
        AssertInvalid(batch.Stats(ctx), "mtkd_distill_stats", "shape->B = 0");
        batch.RawShape = shape;

        batch.RawShape.K = 0;
        AssertInvalid(batch.Stats(ctx), "mtkd_distill_stats", "shape->K = 0");
        batch.RawShape = shape;

        batch.RawShape.C = 1;
        AssertInvalid(batch.Gradient(ctx), "mtkd_distill_gradient", "shape->C = 1");
        batch.RawShape = shape;

        batch.Widths[1] = -1; // 0 is a teacher without features
        AssertInvalid(batch.Stats(ctx), "mtkd_distill_stats", "shape->D[1] = -1");
        batch.Widths[1] = Shape.D[1];

        batch.Offsets[2] += 1;
        AssertInvalid(batch.Stats(ctx), "mtkd_distill_stats", "shape->feat_off[2]");
        batch.Offsets[2] -= 1;
        Assert.Equal(MtkdStatus.Ok, batch.Stats(ctx));
    }

    [Theory]
    [InlineData(7)]
    [InlineData(-2)]
    [InlineData(int.MaxValue)]
    public void Labels_outside_the_classes_are_named(int label)
    {
        using var ctx = NativeContextHandle.Create(NativeSimd.Auto, 1);
        var batch = Batch();
        batch.Inputs.Y[3] = label;
        AssertInvalid(batch.Stats(ctx), "mtkd_distill_stats", $"in->y[3] = {label} is outside [0, 7)");
        AssertInvalid(batch.Fused(ctx), "mtkd_distill_fused", "in->y[3]");
        batch.Inputs.Y[3] = -1;
        Assert.Equal(MtkdStatus.Ok, batch.Fused(ctx));
    }

    [Fact]
    public void Bad_hyper_parameters_are_named()
    {
        using var ctx = NativeContextHandle.Create(NativeSimd.Auto, 1);
        var batch = Batch();
        var hyper = batch.RawHyper;
        foreach (float t in new[] { 0f, -1f, float.NaN, float.PositiveInfinity })
        {
            batch.RawHyper.Temperature = t;
            AssertInvalid(batch.Stats(ctx), "mtkd_distill_stats", "hyper->temperature");
        }
        batch.RawHyper = hyper;
        batch.RawHyper.Beta = float.NaN;
        AssertInvalid(batch.Gradient(ctx), "mtkd_distill_gradient", "hyper->beta");
        batch.RawHyper = hyper;
        batch.RawHyper.CosEps = -1e-8f;
        AssertInvalid(batch.Stats(ctx), "mtkd_distill_stats", "hyper->cos_eps");
        batch.RawHyper = hyper;
        batch.RawHyper.InvCountedRows = 2f;
        AssertInvalid(batch.Fused(ctx), "mtkd_distill_fused", "hyper->inv_counted_rows");
    }

    [Fact]
    public void Context_creation_checks_its_arguments()
    {
        AssertInvalid(NativeMethods.ContextCreate(NativeSimd.Auto, 1, (nint*)null), "mtkd_context_create", "out is null");
        nint raw = 1;
        AssertInvalid(NativeMethods.ContextCreate((NativeSimd)7, 1, &raw), "mtkd_context_create", "simd = 7");
        Assert.Equal(0, raw);

        using var all = NativeContextHandle.Create(NativeSimd.Scalar, 0);
        Assert.True(all.Describe().Threads >= 1);
        using var three = NativeContextHandle.Create(NativeSimd.Scalar, 3);
        Assert.Equal((NativeSimd.Scalar, 3), three.Describe());
        AssertInvalid(NativeMethods.ContextDescribe(new NativeContextHandle(), out _, out _), "mtkd_context_describe", "ctx is null");
    }

    [Fact]
    public void The_last_error_belongs_to_the_calling_thread()
    {
        using var ctx = NativeContextHandle.Create(NativeSimd.Auto, 1);
        var batch = Batch();
        batch.RawShape.K = 0;
        Assert.Equal(MtkdStatus.InvalidArgument, batch.Stats(ctx));
        string other = "unset";
        var thread = new Thread(() => other = NativeMethods.LastError());
        thread.Start();
        thread.Join();
        Assert.Equal("", other);
        Assert.Contains("shape->K = 0", NativeMethods.LastError());
    }

    [Fact]
    public void Failures_become_MtkdRl_exceptions_with_the_native_message()
    {
        using var ctx = NativeContextHandle.Create(NativeSimd.Auto, 1);
        var batch = Batch();
        batch.RawInputs.Fs = null;
        var e = Assert.Throws<MtkdInputException>(() => NativeErrors.ThrowIfFailed(batch.Stats(ctx)));
        Assert.Equal("mtkd_distill_stats: in->fs is null", e.Message);
    }
}
