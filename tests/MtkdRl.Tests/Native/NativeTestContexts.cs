using MtkdRl.Native;

namespace MtkdRl.Tests.Native;

/// <summary>SIMD levels as xunit data, and contexts for them (skipping levels this CPU lacks).</summary>
public static class NativeTestContexts
{
    public static TheoryData<NativeSimd> Levels() => new(NativeSimd.Scalar, NativeSimd.Avx2, NativeSimd.Avx512);

    /// <summary>A context at exactly this level (using only the allowed CPU features), or the test is skipped when the
    /// CPU lacks it.</summary>
    public static NativeContextHandle Create(NativeSimd level, int threads = 1, NativeCpuFeatures allowed = NativeCpuFeatures.All)
    {
        Skip.IfNot(NativeInfo.Supports(level), $"this CPU lacks {NativeInfo.Describe(level)}");
        var context = NativeContextHandle.Create(level, threads, allowed);
        Assert.Equal(level, context.Describe().Simd);
        return context;
    }
}
