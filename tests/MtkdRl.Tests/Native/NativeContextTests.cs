using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Native;

namespace MtkdRl.Tests.Native;

/// <summary>SIMD level selection: AUTO picks the widest level allowed, a forced level the CPU lacks is refused.</summary>
public class NativeContextTests
{
    [Fact]
    public void Forcing_a_level_the_cpu_lacks_is_unsupported()
    {
        // Pretend the CPU has AVX2+FMA but no AVX-512, and then nothing at all.
        Assert.Equal(MtkdStatus.Unsupported,
            NativeMethods.ContextCreateLimited(NativeSimd.Avx512, 1, NativeCpuFeatures.Avx2Fma, out var none));
        Assert.True(none.IsInvalid);
        string message = NativeMethods.LastError();
        Assert.StartsWith("mtkd_context_create_limited: simd = AVX-512 (F/BW/DQ/VL) is not available on this CPU", message);

        Assert.Equal(MtkdStatus.Unsupported,
            NativeMethods.ContextCreateLimited(NativeSimd.Avx2, 1, NativeCpuFeatures.None, out none));
        Assert.Contains("neither AVX2+FMA nor AVX-512", NativeMethods.LastError());
    }

    [Fact]
    public void Auto_picks_the_widest_allowed_level()
    {
        Assert.Equal(MtkdStatus.Ok, NativeMethods.ContextCreateLimited(NativeSimd.Auto, 1, NativeCpuFeatures.None, out var scalar));
        using (scalar) Assert.Equal(NativeSimd.Scalar, scalar.Describe().Simd);

        var features = NativeInfo.CpuFeatures;
        var widest = features.HasFlag(NativeCpuFeatures.Avx512) ? NativeSimd.Avx512
            : features.HasFlag(NativeCpuFeatures.Avx2Fma) ? NativeSimd.Avx2 : NativeSimd.Scalar;
        using var auto = NativeContextHandle.Create(NativeSimd.Auto, 1);
        Assert.Equal(widest, auto.Describe().Simd);

        Assert.Equal(MtkdStatus.Ok, NativeMethods.ContextCreateLimited(NativeSimd.Auto, 1, features & NativeCpuFeatures.Avx2Fma, out var capped));
        using (capped)
            Assert.Equal(features.HasFlag(NativeCpuFeatures.Avx2Fma) ? NativeSimd.Avx2 : NativeSimd.Scalar, capped.Describe().Simd);
    }

    [SkippableTheory]
    [InlineData(NativeSimd.Avx2)]
    [InlineData(NativeSimd.Avx512)]
    public void A_backend_for_a_missing_level_is_unavailable_with_the_reason(NativeSimd level)
    {
        Skip.If(NativeInfo.Supports(level), $"this CPU has {NativeInfo.Describe(level)}; the refusal is covered by the limited-context test");
        var e = Assert.Throws<BackendUnavailableException>(() => new NativeBackend(level));
        Assert.Contains("is not available on this CPU", e.Message);
        Assert.False(NativeBackend.Probe(level).Available);
    }

    [SkippableTheory]
    [MemberData(nameof(NativeTestContexts.Levels), MemberType = typeof(NativeTestContexts))]
    public void Device_and_probe_name_the_level_threads_and_gemm(NativeSimd level)
    {
        Skip.IfNot(NativeInfo.Supports(level), $"this CPU lacks {NativeInfo.Describe(level)}");
        using var one = new NativeBackend(level, 1);
        Assert.Equal($"{NativeInfo.Describe(level)}, 1 thread", one.Device);
        using var two = new NativeBackend(level, 2);
        Assert.Equal($"{NativeInfo.Describe(level)}, 2 threads", two.Device);
        Assert.Equal("native", two.Name);
        Assert.False(two.ApproximateMath);

        var probe = NativeBackend.Probe(level);
        Assert.True(probe.Available);
        using var every = new NativeBackend(level);
        Assert.Equal($"{every.Device}, {NativeInfo.ShortGemm(every.Gemm)}", probe.Detail);
        Assert.Matches(@"^(OpenBLAS \d+\.\d+\.\d+|built-in \S+ GEMM)$", NativeInfo.ShortGemm(every.Gemm));
    }

    [Fact]
    public void Build_info_describes_the_build()
    {
        Assert.Matches(@"^\d+\.\d+\.\d+$", NativeInfo.Version);
        Assert.Contains("SIMD kernels: scalar, AVX2+FMA, AVX-512", NativeInfo.BuildInfo);
        Assert.Contains(NativeInfo.GemmInfo, NativeInfo.BuildInfo);
        Assert.Contains("OpenMP", NativeInfo.BuildInfo);
        Assert.Equal(NativeMethods.AbiVersion, NativeMethods.AbiVersionOfLibrary());
        if (NativeInfo.HasOpenBlas) Assert.StartsWith("OpenBLAS ", NativeInfo.GemmInfo);
        else Assert.StartsWith("built-in blocked GEMM", NativeInfo.GemmInfo);
    }

    [Fact]
    public void Sessions_check_their_use()
    {
        using var backend = new NativeBackend(NativeSimd.Auto, 1);
        var shape = new DistillShape(2, 3, [2]);
        using var session = backend.CreateSession(shape);
        Assert.Throws<InvalidOperationException>(() => session.Stats(DistillHyper.Default));
        Assert.Throws<InvalidOperationException>(() => session.UploadWeights(new float[2], new float[2]));
        session.Upload(Distill.DistillInputFactory.Create(shape, 1));
        Assert.Throws<InvalidOperationException>(() => session.Gradient(DistillHyper.Default));
        Assert.Throws<MtkdInputException>(() => session.Stats(DistillHyper.Default with { Temperature = 0 }));
        Assert.Throws<MtkdInputException>(() => session.UploadWeights(new float[3], new float[2]));
        Assert.Throws<MtkdInputException>(() => session.DownloadStats(new DistillStats(new DistillShape(2, 3, [3]))));
        session.Dispose();
        Assert.Throws<ObjectDisposedException>(() => session.Stats(DistillHyper.Default));
    }
}
