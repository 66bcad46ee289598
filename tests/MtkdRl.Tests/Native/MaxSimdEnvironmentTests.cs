using MtkdRl.Native;
using MtkdRl.Tests.Faults;
using Xunit;

namespace MtkdRl.Tests.Native;

/// <summary>
/// MTKD_MAX_SIMD hides the wider instruction sets, so a machine with AVX-512 can run the whole program as a machine
/// without it does (the kernels, and the float sums whose order depends on them). Child processes: the variable is
/// read by the native library, which a test host shared with other tests must not see changed.
/// </summary>
public class MaxSimdEnvironmentTests
{
    private static string NativeView(string? limit)
    {
        var (code, stdout, stderr) = Processes.MtkdWith(new Dictionary<string, string?> { ["MTKD_MAX_SIMD"] = limit, ["COLUMNS"] = "400" }, "info");
        Assert.True(code == 0, stdout + stderr);
        string line = stdout.Split('\n').Single(l => l.Contains("SIMD (native view)", StringComparison.Ordinal));
        return line.Split('│', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)[^1];
    }

    [SkippableFact]
    public void The_limit_hides_what_it_names_and_nothing_else()
    {
        var detected = NativeInfo.CpuFeatures;
        Skip.IfNot(detected.HasFlag(NativeCpuFeatures.Avx2Fma), "the CPU has no AVX2+FMA to hide");
        string unlimited = NativeView(null);
        Assert.Equal(unlimited, NativeView("avx512"));
        Assert.Equal(unlimited, NativeView("no-such-level"));
        // What is not an instruction set (how many ports issue shuffles) stays as detected.
        var other = detected & ~(NativeCpuFeatures.Avx2Fma | NativeCpuFeatures.Avx512);
        Assert.Equal((other | NativeCpuFeatures.Avx2Fma).ToString(), NativeView("avx2"));
        Assert.Equal(other.ToString(), NativeView("scalar"));
    }
}
