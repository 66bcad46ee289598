using MtkdRl.Backends.Agreement;
using MtkdRl.Core.Distill;
using Xunit.Sdk;

namespace MtkdRl.Tests.Distill;

/// <summary>
/// <see cref="BackendAgreement"/> as test assertions: a failed output fails the test with the comparison's message.
/// </summary>
public static class DistillAgreement
{
    public const double StatsTolerance = BackendAgreement.StatsTolerance;
    public const double GradTolerance = BackendAgreement.GradTolerance;
    public const double ApproximateTolerance = BackendAgreement.ApproximateTolerance;
    public const double AbsoluteFloor = BackendAgreement.AbsoluteFloor;

    /// <summary>Checks the two-pass route (stats, then gradient with the weights) and the fused pass.</summary>
    public static IReadOnlyList<OutputAgreement> Check(IDistillBackend backend, DistillInputs x, DistillHyper h, string context,
        bool absoluteFloor = true) =>
        Passed(BackendAgreement.Check(backend, x, h, context, absoluteFloor: absoluteFloor));

    /// <summary>The stats pass alone on a fresh session whose outputs were poisoned first, so that a statistic the
    /// pass leaves unwritten shows.</summary>
    public static DistillStats PoisonedStats(IDistillBackend backend, DistillInputs x, DistillHyper h)
    {
        using var session = backend.CreateSession(x.Shape);
        session.Upload(x);
        session.PoisonOutputs();
        session.Stats(h);
        var stats = new DistillStats(x.Shape);
        session.DownloadStats(stats);
        return stats;
    }

    /// <summary>dL/dzs and dL/dfs of both routes on one session, each after poisoning its outputs: the two-pass route
    /// (stats, then gradient), then the fused pass. The grads object is reused: read it before the next route.</summary>
    public static IEnumerable<(string Route, DistillGrads Grads)> GradsOfBothRoutes(IDistillBackend backend, DistillInputs x,
        DistillHyper hyper)
    {
        using var session = backend.CreateSession(x.Shape);
        session.Upload(x);
        var grads = new DistillGrads(x.Shape);
        foreach (bool fused in new[] { false, true })
        {
            session.PoisonOutputs();
            if (fused) session.Fused(hyper);
            else
            {
                session.Stats(hyper);
                session.Gradient(hyper);
            }
            session.DownloadGrads(grads);
            yield return (fused ? "fused" : "two-pass", grads);
        }
    }

    public static OutputAgreement CompareOne(string what, double[] want, float[] got, double tolerance, double floor = 0) =>
        Passed([BackendAgreement.CompareOutput(what, want, got, tolerance, floor)])[0];

    private static IReadOnlyList<OutputAgreement> Passed(IReadOnlyList<OutputAgreement> results)
    {
        var failed = results.FirstOrDefault(r => !r.Passed);
        if (failed is not null) throw new XunitException(failed.Detail);
        return results;
    }
}
