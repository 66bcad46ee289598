using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MtkdRl.Backends;

/// <summary>One line of `mtkd info`.</summary>
public sealed record InfoItem(string Section, string Key, string Value);

/// <summary>What this machine and build offer: versions, CPU features, devices, and each backend's status.</summary>
public static class SystemInfo
{
    public static IEnumerable<InfoItem> Collect()
    {
        yield return new("versions", "mtkd", Version(typeof(SystemInfo).Assembly));
        yield return new("versions", ".NET", RuntimeInformation.FrameworkDescription);
        yield return new("versions", "ILGPU", Version(typeof(ILGPU.Context).Assembly));
        yield return new("versions", "OS", RuntimeInformation.OSDescription);

        yield return new("cpu", "model", CpuModel());
        yield return new("cpu", "logical cores", Environment.ProcessorCount.ToString());
        yield return new("cpu", "SIMD (.NET view)", string.Join(" ", ManagedSimd()));

        foreach (var e in BackendCatalog.All)
        {
            var p = e.Probe();
            yield return new("backends", e.Name, (p.Available ? "yes: " : "no: ") + p.Detail);
        }
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
