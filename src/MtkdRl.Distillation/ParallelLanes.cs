using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using MtkdRl.Core;

namespace MtkdRl.Distillation;

/// <summary>
/// Comparison runs spread over up to <c>jobs</c> lanes at once, each lane with a worker of its own (its backend and
/// compute), made once per lane and disposed at the end.
/// </summary>
internal static class ParallelLanes
{
    /// <summary>
    /// <paramref name="body"/> for every item, up to <paramref name="jobs"/> at a time, each call on its lane's worker.
    /// The first error a run reported (an <see cref="MtkdException"/>) is thrown as the sequential path would throw it.
    /// </summary>
    public static void Run<TWorker>(IEnumerable<int> items, int jobs, Func<TWorker> newWorker, Action<int, TWorker> body,
        CancellationToken cancel = default) where TWorker : IDisposable
    {
        var workers = new ConcurrentBag<TWorker>();
        try
        {
            Parallel.ForEach(items, new ParallelOptions { MaxDegreeOfParallelism = jobs, CancellationToken = cancel },
                () => { var w = newWorker(); workers.Add(w); return w; },
                (i, _, worker) => { body(i, worker); return worker; },
                _ => { });
        }
        catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault(x => x is MtkdException) is { } first)
        {
            ExceptionDispatchInfo.Capture(first).Throw();
        }
        finally
        {
            foreach (var w in workers) w.Dispose();
        }
    }
}
