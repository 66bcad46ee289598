using MtkdRl.Gpu.Cuda;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Gpu;

/// <summary>The scripts under tests/gpu, rehearsed on the CPU: where they are, and the CLI they drive there.</summary>
public static class GpuScripts
{
    public static string Script(string name) => Path.Combine(RepositoryPaths.Root, "tests", "gpu", name);

    /// <summary>The test build's mtkd.dll, after skipping where the scripts' tools or the cuda-emu backend are missing.</summary>
    public static string EmulatedCli()
    {
        Skip.IfNot(ExternalProcess.OnPath("bash") && ExternalProcess.OnPath("python3") && ExternalProcess.OnPath("timeout"),
            "the script needs bash, python3 and timeout");
        var emulator = CudaEmulatorBackend.Probe();
        Skip.IfNot(emulator.Available, $"cuda-emu unavailable: {emulator.Detail}");
        string cli = Path.Combine(AppContext.BaseDirectory, "mtkd.dll");
        Assert.True(File.Exists(cli), $"{cli} is missing");
        return cli;
    }
}
