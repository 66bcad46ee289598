using System.Collections.Concurrent;
using MtkdRl.Backends;
using MtkdRl.Core.Distill;

namespace MtkdRl.Tests.Support;

/// <summary>
/// Backends are expensive to create (device contexts, kernel compilation), so tests share one instance of
/// each for the whole run. A backend that cannot run here makes its tests report skipped, with the reason.
/// </summary>
public static class SharedBackends
{
    private static readonly ConcurrentDictionary<string, Lazy<IDistillBackend>> Cache = new();

    /// <summary>Returns the backend, or skips the calling test with the reason it is unavailable here.</summary>
    public static IDistillBackend GetOrSkip(string name)
    {
        var entry = BackendCatalog.Find(name);
        var probe = entry.Probe();
        Skip.IfNot(probe.Available, $"{name} unavailable: {probe.Detail}");
        return Cache.GetOrAdd(entry.Name, _ => new Lazy<IDistillBackend>(entry.Create)).Value;
    }
}
