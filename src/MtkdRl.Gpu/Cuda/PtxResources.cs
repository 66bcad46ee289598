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

    private static byte[] Bytes(string module)
    {
        using var stream = typeof(PtxResources).Assembly.GetManifestResourceStream(Prefix + module + Suffix)
            ?? throw new InvalidOperationException($"no PTX module '{module}' is embedded (embedded: {string.Join(", ", Modules)})");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
