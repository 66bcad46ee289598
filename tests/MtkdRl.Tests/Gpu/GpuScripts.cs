namespace MtkdRl.Tests.Gpu;

/// <summary>Where the scripts under tests/gpu live, and whether a tool they need is on PATH.</summary>
public static class GpuScripts
{
    /// <summary>The repository root: the first folder above the test binaries that holds tests/gpu/<paramref name="script"/>.</summary>
    public static string RepositoryRoot(string script)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "tests", "gpu", script))) return dir.FullName;
        throw new InvalidOperationException($"no tests/gpu/{script} above {AppContext.BaseDirectory}");
    }

    public static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, tool)));
}
