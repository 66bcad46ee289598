using System.Runtime.InteropServices;
using MtkdRl.Gpu;

namespace MtkdRl.Tests.Gpu;

/// <summary>ILGPU's "cuda" import must reach the driver's soname, libcuda.so.1, before the unversioned link.</summary>
public class IlgpuNativeLibrariesTests
{
    [Theory]
    [InlineData("cuda")]
    [InlineData("nvcuda")]
    [InlineData("libcuda.so")]
    public void The_driver_names_map_to_the_soname_first(string name) =>
        Assert.Equal(["libcuda.so.1", "libcuda.so"], IlgpuNativeLibraries.Candidates(name));

    [Theory]
    [InlineData("nvvm")]
    [InlineData("libSystem.Native")]
    public void Other_names_are_left_to_the_default_probing(string name) =>
        Assert.Empty(IlgpuNativeLibraries.Candidates(name));

    [Fact]
    public void The_resolver_is_registered_on_ilgpus_assembly_once()
    {
        bool first = IlgpuNativeLibraries.EnsureRegistered();
        Assert.True(first, "another resolver was already registered on ILGPU's assembly");
        Assert.True(IlgpuNativeLibraries.EnsureRegistered()); // a second call neither throws nor changes anything
        // The runtime allows one resolver per assembly: a further registration must be refused, ours being in place.
        Assert.Throws<InvalidOperationException>(() =>
            NativeLibrary.SetDllImportResolver(typeof(ILGPU.Context).Assembly, (_, _, _) => 0));
    }

    [Fact]
    public void Probing_cuda_registers_it()
    {
        _ = GpuRuntime.ProbeCuda();
        Assert.Throws<InvalidOperationException>(() =>
            NativeLibrary.SetDllImportResolver(typeof(ILGPU.Context).Assembly, (_, _, _) => 0));
    }
}
