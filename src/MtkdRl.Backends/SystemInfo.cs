using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MtkdRl.Core;
using MtkdRl.Gpu;
using MtkdRl.Gpu.Cuda;
using MtkdRl.Native;

namespace MtkdRl.Backends;

/// <summary>One line of `mtkd info`.</summary>
public sealed record InfoItem(string Section, string Key, string Value);

/// <summary>What this machine and build offer: versions, CPU features, devices, and each backend's status.</summary>
public static class SystemInfo
{
    private static readonly string[] SectionOrder = ["versions", "cpu", "native", "cuda", "backends"];

    /// <summary>Every item, grouped by section in a fixed order.</summary>
    public static IReadOnlyList<InfoItem> Collect() =>
        Gather().OrderBy(i => Array.IndexOf(SectionOrder, i.Section)).ToList(); // OrderBy is stable

    private static IEnumerable<InfoItem> Gather()
    {
        yield return new("versions", "mtkd", Version(typeof(SystemInfo).Assembly));
        yield return new("versions", ".NET", RuntimeInformation.FrameworkDescription);
        yield return new("versions", "ILGPU", Version(typeof(ILGPU.Context).Assembly));
        yield return new("versions", "OS", RuntimeInformation.OSDescription);

        yield return new("cpu", "model", CpuModel());
        yield return new("cpu", "logical cores", Environment.ProcessorCount.ToString());
        yield return new("cpu", "SIMD (.NET view)", string.Join(" ", ManagedSimd()));

        foreach (var item in NativeItems()) yield return item;
        foreach (var item in GpuItems()) yield return item;

        foreach (var e in BackendCatalog.All)
        {
            var p = e.Probe();
            yield return new("backends", e.Name, (p.Available ? "yes: " : "no: ") + p.Detail);
        }
    }

    private static IEnumerable<InfoItem> NativeItems()
    {
        string version, build, gemm, features;
        try
        {
            version = NativeInfo.Version;
            build = NativeInfo.BuildInfo;
            gemm = NativeInfo.GemmInfo;
            features = NativeInfo.CpuFeatures.ToString();
        }
        catch (MtkdException e)
        {
            return [new("native", "library", $"not loaded: {e.Message}")];
        }
        return
        [
            new("native", "library", $"libmtkd_native {version}"),
            new("native", "build", build),
            new("native", "BLAS", gemm),
            new("cpu", "SIMD (native view)", features),
        ];
    }

    private static IEnumerable<InfoItem> GpuItems()
    {
        foreach (var module in PtxResources.Modules)
        {
            var header = PtxResources.Text(module).Split('\n')
                .Where(l => l.StartsWith(".version", StringComparison.Ordinal) || l.StartsWith(".target", StringComparison.Ordinal))
                .Select(l => l.Trim());
            yield return new("cuda", $"PTX {module}", $"{PtxResources.Producer(module)}; {string.Join(", ", header)}");
        }
        var cuda = GpuRuntime.ProbeCuda();
        yield return new("cuda", "device 0", (cuda.Available ? "" : "none: ") + cuda.Detail);
    }

    private static IEnumerable<string> ManagedSimd()
    {
        if (Sse42.IsSupported) yield return "SSE4.2";
        if (Avx2.IsSupported) yield return "AVX2";
        if (Fma.IsSupported) yield return "FMA";
        if (Avx512F.IsSupported) yield return "AVX-512F";
        if (Avx512BW.IsSupported) yield return "AVX-512BW";
        if (Avx512DQ.IsSupported) yield return "AVX-512DQ";
        if (Avx512Vbmi.IsSupported) yield return "AVX-512VBMI";
        yield return $"(Vector512 accelerated: {Vector512.IsHardwareAccelerated})";
    }

    private static string CpuModel()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal))
                    return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }

    public static string Version(Assembly a) =>
        a.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? a.GetName().Version?.ToString() ?? "?";
}
