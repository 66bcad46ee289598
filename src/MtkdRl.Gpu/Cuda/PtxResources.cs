using System.Text;

namespace MtkdRl.Gpu.Cuda;

/// <summary>
/// The PTX of kernels/*.cu, embedded in this assembly at build time under the logical name
/// "MtkdRl.Kernels.&lt;file&gt;.ptx" (kernels/distill.cu becomes module "distill").
/// </summary>
public static class PtxResources
{
    public const string Prefix = "MtkdRl.Kernels.";
    public const string Suffix = ".ptx";

    /// <summary>The embedded modules by short name, e.g. "distill".</summary>
    public static IReadOnlyList<string> Modules { get; } = typeof(PtxResources).Assembly.GetManifestResourceNames()
        .Where(n => n.StartsWith(Prefix, StringComparison.Ordinal) && n.EndsWith(Suffix, StringComparison.Ordinal))
        .Select(n => n[Prefix.Length..^Suffix.Length])
        .Order(StringComparer.Ordinal)
        .ToArray();

    public static bool Contains(string module) => Modules.Contains(module);

    /// <summary>The PTX text of one module; throws when the build embedded no such module.</summary>
    public static string Text(string module) => Encoding.UTF8.GetString(Bytes(module));

    /// <summary>The PTX image as the driver wants it: UTF-8 with a terminating NUL.</summary>
    public static byte[] Image(string module)
    {
        var bytes = Bytes(module);
        var image = new byte[bytes.Length + 1];
        bytes.CopyTo(image, 0);
        return image;
    }

    /// <summary>Which compiler produced a module, from the header comment of its PTX.</summary>
    public static string Producer(string module)
    {
        foreach (var line in Text(module).Split('\n').Take(10))
        {
            if (line.Contains("NVVM", StringComparison.Ordinal)) return "nvcc";
            if (line.Contains("LLVM", StringComparison.Ordinal)) return "clang";
        }
        return "unknown compiler";
    }

    /// <summary>
    /// MTKD_PTX_DIR: a folder whose &lt;module&gt;.ptx replaces the embedded module of that name, to time a kernel
    /// variant on a GPU machine without publishing again (docs/PERF.md, section GPU). Unset, or no such file: the
    /// embedded module.
    /// </summary>
    public static string? OverridePath(string module)
    {
        var dir = Environment.GetEnvironmentVariable("MTKD_PTX_DIR");
        if (string.IsNullOrEmpty(dir)) return null;
        var path = Path.Combine(dir, module + Suffix);
        return File.Exists(path) ? path : null;
    }

    private static byte[] Bytes(string module)
    {
        if (OverridePath(module) is { } path) return File.ReadAllBytes(path);
        using var stream = typeof(PtxResources).Assembly.GetManifestResourceStream(Prefix + module + Suffix)
            ?? throw new InvalidOperationException($"no PTX module '{module}' is embedded (embedded: {string.Join(", ", Modules)})");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
