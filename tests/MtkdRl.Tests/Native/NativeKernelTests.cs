using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Native;
using MtkdRl.Tests.Distill;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Native;

/// <summary>
/// What the generic backend matrix cannot see: masked vector tails at each SIMD level, results independent of
/// the thread count, and the numerically delicate corners (tiny KL, confident teachers, tied maxima).
/// </summary>
public class NativeKernelTests
{
    private static DistillStats RunStats(NativeBackend backend, DistillInputs x, DistillHyper h) =>
        DistillAgreement.PoisonedStats(backend, x, h);

    private static (DistillStats Stats, DistillGrads Grads, DistillStats FusedStats, DistillGrads FusedGrads) RunAll(
        NativeBackend backend, DistillInputs x, DistillHyper h)
    {
        using var session = backend.CreateSession(x.Shape);
        session.Upload(x);
        var r = (new DistillStats(x.Shape), new DistillGrads(x.Shape), new DistillStats(x.Shape), new DistillGrads(x.Shape));
        session.PoisonOutputs();
        session.Stats(h);
        session.Gradient(h);
        session.DownloadStats(r.Item1);
        session.DownloadGrads(r.Item2);
        session.PoisonOutputs();
        session.Fused(h);
        session.DownloadStats(r.Item3);
        session.DownloadGrads(r.Item4);
        return r;
    }

    private static NativeBackend Backend(NativeSimd level, int threads = 1, NativeCpuFeatures allowed = NativeCpuFeatures.All)
    {
        Skip.IfNot(NativeInfo.Supports(level), $"this CPU lacks {NativeInfo.Describe(level)}");
        return new NativeBackend(level, threads, allowed);
    }

    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void Non_finite_values_in_the_last_partial_vector_are_caught(NativeSimd level)
    {
        using var backend = Backend(level);
        int seed = TestSeeds.Next();
        // C = 37 and D = 19 leave 5 and 3 elements in the last vector at every width (8 or 16).
        var shape = new DistillShape(4, 37, [19, 16]);
        var x = DistillInputFactory.Create(shape, seed, ignoredFraction: 0);
        x.Zt[(1 * shape.B + 0) * shape.C + 36] = float.NegativeInfinity;
        x.Zs[1 * shape.C + 36] = float.NaN;
        x.Ft[2 * shape.F + shape.FeatureOffset[0] + 18] = float.PositiveInfinity;
        var stats = RunStats(backend, x, DistillHyper.Default);

        string at = $"{level} seed {seed}";
        Assert.True(float.IsNaN(stats.LseT[0 * shape.K + 1]), $"{at}: lse_t[0,1]");
        Assert.True(float.IsFinite(stats.LseT[0 * shape.K + 0]), $"{at}: lse_t[0,0] belongs to a finite row");
        Assert.True(float.IsNaN(stats.LseS1[1]) && float.IsNaN(stats.LseST[1]), $"{at}: lse_s1/lse_st[1]");
        Assert.True(float.IsNaN(stats.Cos[2 * shape.K + 0]) && float.IsNaN(stats.Mse[2 * shape.K + 0]), $"{at}: cos/mse[2,0]");
        Assert.True(float.IsFinite(stats.Cos[2 * shape.K + 1]), $"{at}: cos[2,1] belongs to a finite slice");

        var reference = ReferenceDistill.ComputeStats(ReferenceDistill.Inputs64.From(x), DistillHyper.Default);
        foreach (var ((name, want), (_, got)) in ReferenceDistill.Named(reference).Zip(stats.Named()))
        {
            int width = want.Length / shape.B;
            DistillAgreement.CompareOne($"{at} {name} row 3", want.AsSpan(3 * width, width).ToArray(),
                got.AsSpan(3 * width, width).ToArray(), DistillAgreement.StatsTolerance);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void A_logit_gradient_written_past_the_caches_agrees_with_the_reference(NativeSimd level)
    {
        using var backend = Backend(level, threads: 2);
        int seed = TestSeeds.Next();
        // dzs of 1030 x 257 floats (just over 1 MiB) goes out through non-temporal stores in the gradient pass; rows of
        // 257 floats start at every offset within a vector, so rows have masked heads and tails of every length.
        var shape = new DistillShape(1030, 257, [5, 3, 9]);
        var x = DistillInputFactory.Create(shape, seed);
        DistillAgreement.Check(backend, x, DistillHyper.Default, $"{level} seed {seed}");
        DistillAgreement.Check(backend, x, new DistillHyper(Temperature: 2.5f), $"{level} seed {seed} T 2.5");
    }

    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void Gradients_taken_by_lane_groups_agree_with_the_reference(NativeSimd level)
    {
        using var backend = Backend(level, threads: 2);
        int seed = TestSeeds.Next();
        // The gradient pass goes by lane groups for rows of up to 32 classes and for rows of up to 128 with 32 teachers
        // or more. B = 37: full groups of 8 or 16 rows and a partial one; 15 % of the rows ignored. T = 4 takes the
        // student's one-exponential form, T = 2.5 the two-exponential one.
        var shapes = new[]
        {
            new DistillShape(37, 11, [3, 1, 17, 2]),
            new DistillShape(37, 32, [5, 9]),
            new DistillShape(37, 100, Enumerable.Repeat(2, 33).ToArray()),
        };
        foreach (var shape in shapes)
        {
            var x = DistillInputFactory.Create(shape, seed);
            string at = $"{level} seed {seed} B,K,C = {shape.B},{shape.K},{shape.C}";
            DistillAgreement.Check(backend, x, DistillHyper.Default, at);
            DistillAgreement.Check(backend, x, new DistillHyper(Temperature: 2.5f), $"{at} T 2.5");
        }
    }

    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void Streamed_feature_gradients_of_short_rows_agree_wherever_dfs_starts(NativeSimd level)
    {
        using var context = NativeTestContexts.Create(level, threads: 2, StreamingPastTheCache);
        int seed = TestSeeds.Next();
        // 11 classes go by lane groups; dfs of 7,945 x 33 floats (just over 1 MiB) is streamed (the context is told of
        // no L3 cache, in which these 5 MB would stay otherwise), and a group's 8 or 16
        // rows of 33 floats are staged and written out as whole lines, with a partial line at either end of a block's
        // run when dfs does not start on a line. The last group is partial (7,945 = 496 x 16 + 9); 15 % of the rows ignored.
        var shape = new DistillShape(7945, 11, [5, 3, 9, 16]);
        var batch = new PinnedBatch(shape, seed);
        var x64 = ReferenceDistill.Inputs64.From(batch.Inputs);
        var want = ReferenceDistill.ComputeGrads(x64, ReferenceDistill.ComputeStats(x64, DistillHyper.Default), DistillHyper.Default);
        Assert.Equal(MtkdStatus.Ok, batch.Stats(context));
        foreach (int shift in new[] { 0, 1, 7, 15 })
        {
            var (dfs, start) = batch.ShiftDfs(shift);
            Assert.Equal(MtkdStatus.Ok, batch.Gradient(context));
            string at = $"{level} seed {seed} dfs {shift} floats past a line";
            AssertShiftedDfs(at, want.Dfs, dfs, start, shape, x64.InverseCountedRows());
        }
    }

    /// <summary>
    /// A streamed dfs goes out as whole lines whatever its alignment and the slices' widths: slices of 200, 37 and 130
    /// floats (800 rows: 1.17 MB, streamed) start at every offset within a line, so the 200- and 130-float ones go
    /// through the stage and the 37-float one in place; 11 classes take the lane-group kernels, 300 the row kernels.
    /// Each shift of dfs gives the gradient and fused passes' dfs of no shift bit for bit, within the reference's
    /// tolerance, with nothing written outside it; and the fused pass's cos and mse are the stats pass's bit for bit
    /// (its feature sweep takes the slice's vectors from the slice's start however dfs is written). Short rows of
    /// short slices (4,200 rows of four 16-float slices, 5,000 of 5, 33 and 17 floats: over 1 MiB of dfs) take the
    /// lane-group kernels' sweep after the tiles, whose fused pass stages a group's run of rows whole. The context is
    /// told of no L3 cache, which would hold these passes' bytes and their gradients with them.
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void Streamed_feature_gradients_of_any_width_agree_wherever_dfs_starts(NativeSimd level)
    {
        using var context = NativeTestContexts.Create(level, threads: 2, StreamingPastTheCache);
        int seed = TestSeeds.Next();
        var shapes = new[]
        {
            new DistillShape(800, 11, [200, 37, 130]), new DistillShape(800, 300, [200, 37, 130]),
            new DistillShape(4200, 11, [16, 16, 16, 16]), new DistillShape(5000, 11, [5, 33, 17]),
        };
        foreach (var shape in shapes)
        {
            int salt = shape.B + shape.C;
            var batch = new PinnedBatch(shape, seed + salt);
            var x64 = ReferenceDistill.Inputs64.From(batch.Inputs);
            var want = ReferenceDistill.ComputeGrads(x64, ReferenceDistill.ComputeStats(x64, DistillHyper.Default),
                DistillHyper.Default);
            Assert.Equal(MtkdStatus.Ok, batch.Stats(context));
            var stats = batch.CopyStats();
            foreach (bool fused in new[] { false, true })
            {
                float[]? first = null;
                foreach (int shift in new[] { 0, 1, 7, 15 })
                {
                    var (dfs, start) = batch.ShiftDfs(shift);
                    Assert.Equal(MtkdStatus.Ok, fused ? batch.Fused(context) : batch.Gradient(context));
                    string at = $"{level} seed {seed + salt} B={shape.B} C={shape.C} {(fused ? "fused" : "gradient")} pass, dfs {shift} floats past a line";
                    var got = dfs.AsSpan(start, shape.B * shape.F).ToArray();
                    first ??= got;
                    Assert.True(first.AsSpan().SequenceEqual(got), $"{at}: dfs differs from that of dfs on a line");
                    AssertShiftedDfs(at, want.Dfs, dfs, start, shape, x64.InverseCountedRows());
                    if (!fused) continue;
                    var fusedStats = batch.CopyStats();
                    Assert.True(stats.Cos.AsSpan().SequenceEqual(fusedStats.Cos), $"{at}: cos differs from the stats pass's");
                    Assert.True(stats.Mse.AsSpan().SequenceEqual(fusedStats.Mse), $"{at}: mse differs from the stats pass's");
                }
            }
        }
    }

    /// <summary>
    /// A feature loss other than mse writes dfs itself, zeros for an ignored row (the KL gradient kernel leaves fs, ft
    /// and dfs alone then), and past 4 MB as whole streamed lines: 2,100 rows of slices of 200, 37 and 300 floats
    /// (4.5 MB), dfs 0 and 7 floats past a line, cosine after kl and smooth-l1 after jsd, gradient and fused passes,
    /// against the float64 reference, with nothing written outside dfs (the context told of no L3 cache).
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void A_catalog_feature_loss_writes_a_streamed_dfs_wherever_it_starts(NativeSimd level)
    {
        using var context = NativeTestContexts.Create(level, threads: 2, StreamingPastTheCache);
        int seed = TestSeeds.Next();
        var shape = new DistillShape(2100, 11, [200, 37, 300]);
        foreach (string lossName in new[] { "kl+cosine", "jsd:beta=0.5+smooth-l1" })
        {
            var h = new DistillHyper(Temperature: 2.5f) with { Loss = LossCatalogTests.FromName(lossName) };
            var batch = new PinnedBatch(shape, seed, h);
            var x64 = ReferenceDistill.Inputs64.From(batch.Inputs);
            var want = ReferenceDistill.ComputeGrads(x64, ReferenceDistill.ComputeStats(x64, h), h);
            Assert.Equal(MtkdStatus.Ok, batch.Stats(context));
            foreach (bool fused in new[] { false, true })
                foreach (int shift in new[] { 0, 7 })
                {
                    var (dfs, start) = batch.ShiftDfs(shift);
                    Assert.Equal(MtkdStatus.Ok, fused ? batch.Fused(context) : batch.Gradient(context));
                    string at = $"{level} {lossName} seed {seed} {(fused ? "fused" : "gradient")} pass, dfs {shift} floats past a line";
                    AssertShiftedDfs(at, want.Dfs, dfs, start, shape, x64.InverseCountedRows());
                }
        }
    }

    /// <summary>Without kFeatureLastLevelCache a context streams every gradient of 1 MiB or more past the caches.</summary>
    private const NativeCpuFeatures StreamingPastTheCache = ~NativeCpuFeatures.LastLevelCache;

    /// <summary>
    /// Where the CPU reports an L3 cache, a pass whose bytes fit half of it (at most 32 MiB) writes its gradients by
    /// plain stores, and a larger one streams them: the same outputs bit for bit as a context told of no such cache,
    /// which streams both, and the float64 reference's. Passes of 4.3 and 9.4 MB (their dfs, and the second's dzs, over
    /// 1 MiB: kept in a cache of 32 MiB) and of 57 MB (streamed on any cache), by lane groups and by rows, kl + mse and
    /// a catalog feature loss.
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void Gradients_left_in_the_cache_are_the_streamed_ones_bit_for_bit(NativeSimd level)
    {
        Skip.IfNot(NativeInfo.CpuFeatures.HasFlag(NativeCpuFeatures.LastLevelCache), "the OS reports no L3 cache");
        using var cached = NativeTestContexts.Create(level, threads: 2);
        using var streamed = NativeTestContexts.Create(level, threads: 2, StreamingPastTheCache);
        int seed = TestSeeds.Next();
        var shapes = new[]
        {
            new DistillShape(4200, 11, [16, 16, 16, 16]), new DistillShape(900, 300, [200, 37, 130]),
            new DistillShape(2500, 300, [700, 300, 400]),
        };
        foreach (var shape in shapes)
            foreach (string lossName in new[] { "kl+mse", "kl+cosine" })
            {
                var h = new DistillHyper(Temperature: 2.5f) with { Loss = LossCatalogTests.FromName(lossName) };
                var batch = new PinnedBatch(shape, seed + shape.B, h);
                var x64 = ReferenceDistill.Inputs64.From(batch.Inputs);
                var want = ReferenceDistill.ComputeGrads(x64, ReferenceDistill.ComputeStats(x64, h), h);
                foreach (bool fused in new[] { false, true })
                {
                    string at = $"{level} {lossName} seed {seed + shape.B} B={shape.B} C={shape.C} {(fused ? "fused" : "gradient")} pass";
                    var outputs = new List<(float[] Dzs, float[] Dfs)>();
                    foreach (var context in new[] { cached, streamed })
                    {
                        Assert.Equal(MtkdStatus.Ok, batch.Stats(context));
                        Assert.Equal(MtkdStatus.Ok, fused ? batch.Fused(context) : batch.Gradient(context));
                        outputs.Add(((float[])batch.Dzs.Clone(), (float[])batch.Dfs.Clone()));
                    }
                    Assert.True(outputs[0].Dzs.AsSpan().SequenceEqual(outputs[1].Dzs), $"{at}: dzs differs between plain and streamed stores");
                    Assert.True(outputs[0].Dfs.AsSpan().SequenceEqual(outputs[1].Dfs), $"{at}: dfs differs between plain and streamed stores");
                    double floor = DistillAgreement.AbsoluteFloor * x64.InverseCountedRows();
                    DistillAgreement.CompareOne($"{at}: dzs", want.Dzs, outputs[0].Dzs, DistillAgreement.GradTolerance, floor);
                    DistillAgreement.CompareOne($"{at}: dfs", want.Dfs, outputs[0].Dfs, DistillAgreement.GradTolerance, floor);
                }
            }
    }

    /// <summary>
    /// With more threads than cores (16 here), threads that start late find part of their range of blocks taken by
    /// those done with theirs (native/src/block_ranges.h): which thread runs a block changes from call to call, the
    /// outputs must not.
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void Results_do_not_depend_on_the_thread_count(NativeSimd level) =>
        AssertTheSameOnAnyThreadCount(level, new DistillShape(61, 53, [33, 8, 17]), [2, 3, 7, 16]);

    /// <summary>
    /// The gradient pass takes each thread's blocks in runs of about half an L2 cache of inputs, from the last run to
    /// the first (distill_driver.cpp, for_row_blocks): about 10 MB of inputs here, so several runs per thread on any
    /// L2 of up to 2 MB, split differently on every thread count: the outputs the same bit for bit, and the reference's.
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void Results_do_not_depend_on_the_order_of_the_gradient_passs_blocks(NativeSimd level)
    {
        var x = AssertTheSameOnAnyThreadCount(level, new DistillShape(3000, 40, Enumerable.Repeat(32, 8).ToArray()), [2, 3]);
        using var backend = Backend(level, threads: 2);
        DistillAgreement.Check(backend, x, new DistillHyper(Temperature: 2.5f), $"{level}");
    }

    /// <summary>
    /// Rows of 33 to 128 classes with 32 or more teachers take the gradient pass by lane groups, or row by row where the
    /// CPU issues shuffles on one port (Intel's cores: NativeCpuFeatures.OneShufflePort); a context without that bit
    /// takes the lane groups on any CPU. Both ways against the float64 reference, 2 threads, odd widths.
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void Gradients_of_many_teachers_agree_by_rows_and_by_lane_groups(NativeSimd level)
    {
        int seed = TestSeeds.Next();
        var shape = new DistillShape(45, 97, Enumerable.Range(0, 33).Select(k => 1 + k % 7).ToArray());
        var x = DistillInputFactory.Create(shape, seed);
        foreach (var allowed in new[] { NativeCpuFeatures.All, ~NativeCpuFeatures.OneShufflePort })
        {
            using var backend = Backend(level, threads: 2, allowed);
            foreach (var h in new[] { DistillHyper.Default, new DistillHyper(Temperature: 2.5f) })
                DistillAgreement.Check(backend, x, h, $"{level} allowed {allowed} T {h.Temperature} seed {seed}");
        }
    }

    private static DistillInputs AssertTheSameOnAnyThreadCount(NativeSimd level, DistillShape shape, int[] threadCounts)
    {
        var x = DistillInputFactory.Create(shape, TestSeeds.Next());
        var h = new DistillHyper(Temperature: 2.5f);
        using var one = Backend(level, 1);
        var baseline = RunAll(one, x, h);
        foreach (int threads in threadCounts)
        {
            using var many = new NativeBackend(level, threads);
            var r = RunAll(many, x, h);
            foreach (var ((name, want), (_, got)) in baseline.Stats.Named().Zip(r.Stats.Named()))
                Assert.True(want.AsSpan().SequenceEqual(got), $"{level}, {threads} threads: {name} differs");
            foreach (var ((name, want), (_, got)) in baseline.Grads.Named().Zip(r.Grads.Named()))
                Assert.True(want.AsSpan().SequenceEqual(got), $"{level}, {threads} threads: {name} differs");
            foreach (var ((name, want), (_, got)) in baseline.FusedGrads.Named().Zip(r.FusedGrads.Named()))
                Assert.True(want.AsSpan().SequenceEqual(got), $"{level}, {threads} threads: fused {name} differs");
        }
        // The fused pass computes its statistics with the same arithmetic as the stats pass.
        foreach (var ((name, want), (_, got)) in baseline.Stats.Named().Zip(baseline.FusedStats.Named()))
            Assert.True(want.AsSpan().SequenceEqual(got), $"{level}: fused {name} differs from the stats pass");
        return x;
    }

    public static TheoryData<NativeSimd, string> LevelsAndCatalogLosses()
    {
        var data = new TheoryData<NativeSimd, string>();
        foreach (var level in new[] { NativeSimd.Scalar, NativeSimd.Avx2, NativeSimd.Avx512 })
            foreach (var loss in DistillLossCatalog.AllCombinations().Where(l => !l.IsDefault))
                data.Add(level, LossCatalogTests.Name(loss));
        return data;
    }

    /// <summary>
    /// The catalog's fused pass takes each pair's value and gradient in one sweep where the divergence has that form
    /// (jsd, dkd: each element evaluated once), with the arithmetic of the two passes: the same outputs, bit for bit,
    /// on short rows (lane groups for both, 11 and 40 classes) and long rows (the row form for both, 300). At 100
    /// classes the stats pass takes jsd's and dkd's statistics by lane groups and the gradient goes by rows; the fused
    /// pass takes both by rows in one sweep, so there its statistics (and row_loss, which sums them) are another
    /// float32 evaluation, held to the stats tolerance, and dzs, dfs stay bit for bit. With kl and a replaced feature
    /// loss the fused pass takes the logits through the fused KL kernel, as kl + mse does, whose dzs is another float32
    /// evaluation than the gradient kernel's: held to the gradient tolerance there, every other output bit for bit.
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(LevelsAndCatalogLosses))]
    public void The_catalog_fused_pass_gives_the_two_passes_outputs(NativeSimd level, string lossName)
    {
        using var backend = Backend(level);
        int seed = TestSeeds.Next();
        var h = new DistillHyper(Temperature: 2.5f) with { Loss = LossCatalogTests.FromName(lossName) };
        foreach (int c in new[] { 11, 40, 100, 300 })
        {
            var x = DistillInputFactory.Create(new DistillShape(37, c, [5, 0, 3]), seed + c);
            var (stats, grads, fusedStats, fusedGrads) = RunAll(backend, x, h);
            string at = $"{level} {lossName} C={c} seed {seed + c}";
            bool sameForms = c != 100;
            AssertSameOutputs($"{at}: fused", "the stats pass", stats.Named(), fusedStats.Named(),
                sameForms ? null : "kl", DistillAgreement.StatsTolerance);
            bool klLogits = h.Loss.Divergence == LogitDivergence.Kl;
            AssertSameOutputs($"{at}: fused", "the gradient pass", grads.Named(), fusedGrads.Named(),
                klLogits ? "dzs" : sameForms ? null : "row_loss", DistillAgreement.GradTolerance);
        }
    }

    /// <summary>
    /// dfs as PinnedBatch.ShiftDfs placed it (at start inside the NaN-filled array) agrees with the float64 reference,
    /// and not a float around it was written.
    /// </summary>
    private static void AssertShiftedDfs(string at, double[] want, float[] dfs, int start, DistillShape shape,
        double inverseCountedRows)
    {
        int n = shape.B * shape.F;
        DistillAgreement.CompareOne($"{at}: dfs", want, dfs.AsSpan(start, n).ToArray(), DistillAgreement.GradTolerance,
            DistillAgreement.AbsoluteFloor * inverseCountedRows);
        Assert.True(dfs.Take(start).All(float.IsNaN), $"{at}: a float before dfs was written");
        Assert.True(dfs.Skip(start + n).All(float.IsNaN), $"{at}: a float after dfs was written");
    }

    /// <summary>Each output of got equals want's bit for bit, except the one named loose, held to the tolerance.</summary>
    private static void AssertSameOutputs(string at, string route, IEnumerable<(string Name, float[] Data)> want,
        IEnumerable<(string Name, float[] Data)> got, string? loose, double tolerance)
    {
        foreach (var ((name, w), (_, g)) in want.Zip(got))
        {
            if (name == loose)
                DistillAgreement.CompareOne($"{at} {name}", w.Select(v => (double)v).ToArray(), g, tolerance);
            else
                Assert.True(w.AsSpan().SequenceEqual(g), $"{at} {name} differs from {route}");
        }
    }

    /// <summary>
    /// Teachers near the student, as in training: most rows take kl's precise gradient, which the gradient pass marks
    /// before its sweeps (the fast kernels leave out those rows' logit work) and writes by lane groups on short rows
    /// or row by row, and the fused pass writes over its fast rows. Over several blocks of rows and threads the
    /// outputs do not depend on the thread count, and both routes hold the float64 reference's tolerances.
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void Teachers_near_the_student_give_the_same_results_on_any_thread_count(NativeSimd level)
    {
        using var one = Backend(level, 1);
        int seed = TestSeeds.Next();
        var rng = new Random(seed);
        foreach (int c in new[] { 11, 100 })
        {
            var shape = new DistillShape(700, c, [3, 0, 2]);
            var x = DistillInputFactory.Create(shape, seed + c);
            for (int k = 0; k < shape.K; k++)
                for (int i = 0; i < shape.B * c; i++)
                    x.Zt[k * shape.B * c + i] = x.Zs[i] + (float)(0.05 * (rng.NextDouble() - 0.5));
            // No cross-entropy term: the KD gradient alone sets the scale of dzs's tolerance (the fast form misses it).
            var h = new DistillHyper(Temperature: 4f) with { ACe = 0f };
            var baseline = RunAll(one, x, h);
            string at = $"{level} C={c} seed {seed}";
            foreach (int threads in new[] { 2, 3 })
            {
                using var many = new NativeBackend(level, threads);
                var r = RunAll(many, x, h);
                AssertSameOutputs($"{at} {threads} threads:", "1 thread", baseline.Grads.Named(), r.Grads.Named(), null, 0);
                AssertSameOutputs($"{at} {threads} threads: fused", "1 thread", baseline.FusedGrads.Named(),
                    r.FusedGrads.Named(), null, 0);
            }
            var x64 = ReferenceDistill.Inputs64.From(x);
            var want = ReferenceDistill.ComputeGrads(x64, ReferenceDistill.ComputeStats(x64, h), h);
            DistillAgreement.CompareOne($"{at} dzs", want.Dzs, baseline.Grads.Dzs, DistillAgreement.GradTolerance);
            DistillAgreement.CompareOne($"{at} fused dzs", want.Dzs, baseline.FusedGrads.Dzs, DistillAgreement.GradTolerance);
        }
    }

    /// <summary>
    /// A few rows of each lane group whose teachers all nearly agree with the student, among rows whose teachers do not:
    /// the lanes that need the accurate small-KL sums get them while their neighbours keep the plain form, each tiny KL
    /// compared on its own scale; with 6 teachers (statistics held per lane group and written as rows of K) and 20 (more
    /// teachers than lanes: written pair by pair).
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void Tiny_divergences_among_distant_ones_keep_their_relative_accuracy(NativeSimd level)
    {
        using var backend = Backend(level, threads: 2);
        int seed = TestSeeds.Next();
        var rng = new Random(seed);
        foreach (int teachers in new[] { 6, 20 })
        {
            var shape = new DistillShape(37, teachers, 11, 2);
            var x = DistillInputFactory.Create(shape, seed, ignoredFraction: 0);
            for (int k = 0; k < shape.K; k++)
                for (int b = 1; b < shape.B; b += 6)
                    for (int c = 0; c < shape.C; c++)
                        x.Zt[(k * shape.B + b) * shape.C + c] = x.Zs[b * shape.C + c] + (float)(1e-3 * (rng.NextDouble() - 0.5));
            var h = new DistillHyper(Temperature: 4f);
            var reference = ReferenceDistill.ComputeStats(ReferenceDistill.Inputs64.From(x), h);
            Assert.True(reference.Kl[1 * shape.K] < 1e-5 && reference.Kl.Max() > 0.1, "tiny and distant pairs");
            var (stats, grads, fusedStats, fusedGrads) = RunAll(backend, x, h);
            string at = $"{level} K={teachers} seed {seed}";
            DistillAgreement.CompareOne($"{at} kl", reference.Kl, stats.Kl, DistillAgreement.StatsTolerance);
            DistillAgreement.CompareOne($"{at} fused kl", reference.Kl, fusedStats.Kl, DistillAgreement.StatsTolerance);
            // The tiny ones on their own scale (the comparison above scales by the largest).
            var tiny = Enumerable.Range(0, shape.B * shape.K).Where(i => i / shape.K % 6 == 1).ToArray();
            DistillAgreement.CompareOne($"{at} tiny kl", tiny.Select(i => reference.Kl[i]).ToArray(),
                tiny.Select(i => stats.Kl[i]).ToArray(), DistillAgreement.StatsTolerance);
            DistillAgreement.CompareOne($"{at} fused tiny kl", tiny.Select(i => reference.Kl[i]).ToArray(),
                tiny.Select(i => fusedStats.Kl[i]).ToArray(), DistillAgreement.StatsTolerance);
            var refGrads = ReferenceDistill.ComputeGrads(ReferenceDistill.Inputs64.From(x), reference, h);
            DistillAgreement.CompareOne($"{at} row_loss", refGrads.RowLoss, grads.RowLoss, DistillAgreement.GradTolerance);
            DistillAgreement.CompareOne($"{at} fused row_loss", refGrads.RowLoss, fusedGrads.RowLoss, DistillAgreement.GradTolerance);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void A_batch_of_tiny_divergences_keeps_its_relative_accuracy(NativeSimd level)
    {
        using var backend = Backend(level);
        int seed = TestSeeds.Next();
        var rng = new Random(seed);
        foreach (int c in new[] { 2, 10, 100 })
        {
            // Teachers that are the student plus noise of 1e-3: every KL of the batch is around 1e-7.
            var shape = new DistillShape(9, c, [4, 4]);
            var x = DistillInputFactory.Create(shape, seed);
            for (int k = 0; k < shape.K; k++)
                for (int i = 0; i < shape.B * c; i++)
                    x.Zt[k * shape.B * c + i] = x.Zs[i] + (float)(1e-3 * (rng.NextDouble() - 0.5));
            foreach (float t in new[] { 1f, 4f })
            {
                var h = new DistillHyper(Temperature: t);
                var reference = ReferenceDistill.ComputeStats(ReferenceDistill.Inputs64.From(x), h);
                Assert.True(reference.Kl.Max() < 1e-5, "the batch should hold only tiny divergences");
                var (stats, grads, fusedStats, fusedGrads) = RunAll(backend, x, h);
                string at = $"{level} C={c} T={t} seed {seed}";
                DistillAgreement.CompareOne($"{at} kl", reference.Kl, stats.Kl, DistillAgreement.StatsTolerance);
                DistillAgreement.CompareOne($"{at} fused kl", reference.Kl, fusedStats.Kl, DistillAgreement.StatsTolerance);
                var refGrads = ReferenceDistill.ComputeGrads(ReferenceDistill.Inputs64.From(x), reference, h);
                DistillAgreement.CompareOne($"{at} row_loss", refGrads.RowLoss, grads.RowLoss, DistillAgreement.GradTolerance);
                DistillAgreement.CompareOne($"{at} fused row_loss", refGrads.RowLoss, fusedGrads.RowLoss, DistillAgreement.GradTolerance);
            }
        }
    }

    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void Each_small_divergence_keeps_its_own_relative_accuracy_beside_a_large_one(NativeSimd level)
    {
        // KL = E_pt[u - v] + log(Ss/St) in float32 is off by a few 1e-7 T^2 whatever its size: 0.1% of a KL of
        // 1e-4 T^2. Pair (0, 0) gets an opposed teacher (KL far above 0.1 T^2), so nothing that looks at the
        // batch as a whole can tell that the other pairs need more care; each must get it on its own.
        using var backend = Backend(level);
        int seed = TestSeeds.Next();
        var rng = new Random(seed);
        foreach (int c in new[] { 2, 10, 100, 1000 })
        {
            foreach (float t in new[] { 1f, 2.5f, 4f })
            {
                var shape = new DistillShape(5, c, [3, 3, 3]);
                var x = DistillInputFactory.Create(shape, seed);
                // Student logits of size T (no class is almost impossible); teacher = student + a constant
                // (softmax ignores it; the raw logits still differ by up to 6) + a zig-zag of about T/50 (so
                // even C = 2 has a difference to see): KL/T^2 between 1e-5 and 1e-3.
                for (int i = 0; i < x.Zs.Length; i++) x.Zs[i] = (float)(t * rng.NextGaussian());
                for (int k = 0; k < shape.K; k++)
                    for (int b = 0; b < shape.B; b++)
                    {
                        double offset = 12 * (rng.NextDouble() - 0.5);
                        for (int j = 0; j < c; j++)
                        {
                            double zigzag = (j % 2 == 0 ? 1 : -1) * t * 0.014 * (1 + rng.NextDouble());
                            x.Zt[(k * shape.B + b) * c + j] = (float)(x.Zs[b * c + j] + offset + zigzag);
                        }
                    }
                // Pair (0, 0): a teacher sure of the class the student finds least likely.
                int least = 0;
                for (int j = 1; j < c; j++)
                    if (x.Zs[j] < x.Zs[least]) least = j;
                for (int j = 0; j < c; j++) x.Zt[j] = j == least ? 10 * t : 0;
                var h = new DistillHyper(Temperature: t);
                var reference = ReferenceDistill.ComputeStats(ReferenceDistill.Inputs64.From(x), h);
                Assert.True(reference.Kl[0] > 0.1 * t * t, $"seed {seed}: pair (0, 0) should diverge strongly");
                var (stats, _, fusedStats, _) = RunAll(backend, x, h);
                for (int i = 1; i < reference.Kl.Length; i++)
                {
                    double want = reference.Kl[i];
                    string at = $"{level} C={c} T={t} seed {seed} pair {i}";
                    Assert.True(want > 1e-7 * t * t && want < 1e-2 * t * t, $"{at}: KL {want} should be small");
                    Assert.True(Math.Abs(stats.Kl[i] - want) <= 1e-5 * want, $"{at}: kl {stats.Kl[i]:R}, reference {want:R}");
                    Assert.True(Math.Abs(fusedStats.Kl[i] - want) <= 1e-5 * want, $"{at}: fused kl {fusedStats.Kl[i]:R}, reference {want:R}");
                }
            }
        }
    }

    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void Confident_teachers_keep_the_relative_precision_of_small_statistics(NativeSimd level)
    {
        using var backend = Backend(level);
        int seed = TestSeeds.Next();
        var shape = new DistillShape(8, 50, [3]);
        var x = DistillInputFactory.Create(shape, seed, ignoredFraction: 0);
        var rng = new Random(seed);
        for (int b = 0; b < shape.B; b++)
        {
            // The teacher backs the label with a margin of 12 to 20: CE_t between 1e-9 and 1e-4.
            for (int c = 0; c < shape.C; c++) x.Zt[b * shape.C + c] = (float)rng.NextDouble();
            x.Zt[b * shape.C + x.Y[b]] = 12f + 8f * (float)rng.NextDouble();
        }
        var stats = RunStats(backend, x, DistillHyper.Default);
        var reference = ReferenceDistill.ComputeStats(ReferenceDistill.Inputs64.From(x), DistillHyper.Default);
        for (int b = 0; b < shape.B; b++)
        {
            // Element by element, not relative to the batch's largest value.
            Assert.True(Math.Abs(stats.CeT[b] - reference.CeT[b]) <= 2e-6 * reference.CeT[b],
                $"{level} seed {seed} row {b}: ce_t {stats.CeT[b]:R}, reference {reference.CeT[b]:R}");
            Assert.True(Math.Abs(stats.Ht[b] - reference.Ht[b]) <= 1e-5 * reference.Ht[b],
                $"{level} seed {seed} row {b}: h_t {stats.Ht[b]:R}, reference {reference.Ht[b]:R}");
            Assert.Equal(1f, stats.Hit[b]);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void Ties_for_the_maximum_go_to_the_first_index(NativeSimd level)
    {
        using var backend = Backend(level);
        // 40 classes: the tied maxima sit in different vectors at both widths.
        var shape = new DistillShape(3, 40, [2]);
        var x = DistillInputFactory.Create(shape, TestSeeds.Next(), ignoredFraction: 0);
        for (int b = 0; b < 3; b++)
        {
            var row = x.Zt.AsSpan(b * shape.C, shape.C);
            row.Fill(-1f);
            row[9] = row[17] = row[33] = 4f;
        }
        x.Y[0] = 9;
        x.Y[1] = 17;
        x.Y[2] = 33;
        var stats = RunStats(backend, x, DistillHyper.Default);
        Assert.Equal([1f, 0f, 0f], stats.Hit);
        var reference = ReferenceDistill.ComputeStats(ReferenceDistill.Inputs64.From(x), DistillHyper.Default);
        DistillAgreement.CompareOne($"{level} conf", reference.Conf, stats.Conf, DistillAgreement.StatsTolerance);
        DistillAgreement.CompareOne($"{level} ce_t", reference.CeT, stats.CeT, DistillAgreement.StatsTolerance);
        DistillAgreement.CompareOne($"{level} h_t", reference.Ht, stats.Ht, DistillAgreement.StatsTolerance);
    }

    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void Hits_of_short_rows_with_tied_maxima_agree_with_the_reference_pair_by_pair(NativeSimd level)
    {
        using var backend = Backend(level);
        int seed = TestSeeds.Next();
        var random = new Random(seed);
        // 37 rows of 11 classes: two whole lane groups and a partial one at either width. Each (row, teacher) pair
        // holds its maximum once, twice or three times; the label sits on the first tie, a later one or elsewhere.
        var shape = new DistillShape(37, 3, 11, 4);
        var x = DistillInputFactory.Create(shape, seed, ignoredFraction: 0.1);
        for (int k = 0; k < shape.K; k++)
            for (int b = 0; b < shape.B; b++)
            {
                var row = x.Zt.AsSpan((k * shape.B + b) * shape.C, shape.C);
                float top = row.ToArray().Max() + 1f;
                var at = Enumerable.Range(0, shape.C).OrderBy(_ => random.Next()).Take(1 + random.Next(3)).ToArray();
                foreach (int c in at) row[c] = top;
                if (k == 0 && x.Y[b] >= 0)
                    x.Y[b] = random.Next(3) switch { 0 => at.Min(), 1 => at.Max(), _ => random.Next(shape.C) };
            }
        var stats = RunStats(backend, x, DistillHyper.Default);
        var reference = ReferenceDistill.ComputeStats(ReferenceDistill.Inputs64.From(x), DistillHyper.Default);
        for (int i = 0; i < reference.Hit.Length; i++)
            Assert.True(reference.Hit[i] == stats.Hit[i], $"{level} seed {seed}: hit of row {i / shape.K}, teacher {i % shape.K}");
        Assert.Contains(1f, stats.Hit);
        DistillAgreement.CompareOne($"{level} ce_t", reference.CeT, stats.CeT, DistillAgreement.StatsTolerance);
        DistillAgreement.CompareOne($"{level} h_t", reference.Ht, stats.Ht, DistillAgreement.StatsTolerance);
    }
}
