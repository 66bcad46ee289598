using System.Runtime.InteropServices;
using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Gpu;
using MtkdRl.Gpu.Cuda;

namespace MtkdRl.Tests.Cuda;

/// <summary>The hand-written driver binding's error paths, which every machine can check.</summary>
public class CudaDriverTests
{
    [Fact]
    public void A_missing_driver_library_is_a_one_line_BackendUnavailableException()
    {
        var e = Assert.Throws<BackendUnavailableException>(() => CudaDriver.LoadLibrary(["libmtkd-no-such-driver.so.1", "libmtkd-no-such-driver.so"]));
        Assert.Contains("libmtkd-no-such-driver.so.1 or libmtkd-no-such-driver.so", e.Message);
        Assert.Contains("NVIDIA", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [SkippableFact]
    public void Without_a_driver_every_call_reports_the_backend_unavailable()
    {
        bool driverPresent = CudaDriver.LibraryCandidates.Any(name =>
        {
            if (!NativeLibrary.TryLoad(name, out var handle)) return false;
            NativeLibrary.Free(handle);
            return true;
        });
        Skip.If(driverPresent, "an NVIDIA driver is installed here");
        Assert.Throws<BackendUnavailableException>(CudaDriver.Init);
        // A second call answers from the remembered failure, with the same message.
        var first = Assert.Throws<BackendUnavailableException>(() => CudaDriver.DriverVersion());
        var second = Assert.Throws<BackendUnavailableException>(() => CudaDriver.GetCurrentContext());
        Assert.Equal(first.Message, second.Message);
        Assert.False(CudaDriver.IsLoaded);
    }

    [Theory]
    [InlineData(1, "CUDA_ERROR_INVALID_VALUE")]
    [InlineData(2, "CUDA_ERROR_OUT_OF_MEMORY")]
    [InlineData(100, "CUDA_ERROR_NO_DEVICE")]
    [InlineData(218, "CUDA_ERROR_INVALID_PTX")]
    [InlineData(500, "CUDA_ERROR_NOT_FOUND")]
    [InlineData(700, "CUDA_ERROR_ILLEGAL_ADDRESS")]
    [InlineData(701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES")]
    [InlineData(719, "CUDA_ERROR_LAUNCH_FAILED")]
    public void Error_codes_become_exceptions_naming_the_call_and_the_error(int code, string name)
    {
        var e = Assert.Throws<CudaException>(() => CudaDriver.Check(code, "cuSomething"));
        Assert.StartsWith($"cuSomething failed: {name} (", e.Message);
        Assert.Equal(code, e.ErrorCode);
        Assert.Equal(name, e.ErrorName);
        Assert.Equal("cuSomething", e.Call);
        Assert.IsAssignableFrom<MtkdException>(e);
    }

    [Fact]
    public void Unknown_codes_and_details_still_make_a_readable_message()
    {
        var e = CudaDriver.Error(4242, "cuLaunchKernel", "kernel 'k', grid 7");
        Assert.Contains("4242", e.Message);
        Assert.EndsWith(": kernel 'k', grid 7", e.Message);
        CudaDriver.Check(0, "cuInit");
    }

    [SkippableFact]
    public void The_cuda_backend_says_why_it_cannot_run_here()
    {
        Skip.If(GpuRuntime.ProbeCuda().Available, "a CUDA device is present");
        var probe = CudaBackend.Probe();
        Assert.False(probe.Available);
        Assert.Contains("NVIDIA", probe.Detail);
        var e = Assert.Throws<BackendUnavailableException>(() => BackendCatalog.Create("cuda"));
        Assert.StartsWith("backend 'cuda' is unavailable: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
