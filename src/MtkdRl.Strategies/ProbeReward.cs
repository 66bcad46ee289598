using MtkdRl.Core;

namespace MtkdRl.Strategies;

/// <summary>
/// The student's improvement on a held-out probe batch over the step, before minus after, divided by the running
/// standard deviation of that improvement (Welford, float64; its sign alone until two steps are seen). The same
/// value goes to every kept row of the batch.
/// </summary>
internal sealed class ProbeReward : IPpoReward
{
    private double _count, _mean, _m2;

    public bool NeedsProbeLoss => true;

    public void Compute(in LearnFeedback feedback, ReadOnlySpan<float> wl, ReadOnlySpan<float> wf, ReadOnlySpan<int> keptRows, Span<float> reward)
    {
        double improvement = feedback.ProbeLossBefore - feedback.ProbeLossAfter;
        if (!double.IsFinite(improvement))
            throw new MtkdInputException($"strategy {PpoAgent.CatalogName}: the probe reward needs finite probe losses before and after the step");
        _count++;
        double d = improvement - _mean;
        _mean += d / _count;
        _m2 += d * (improvement - _mean);
        double std = _count > 1 ? Math.Sqrt(_m2 / (_count - 1)) : 0;
        float r = (float)(std > 0 ? improvement / std : Math.Sign(improvement));
        foreach (int row in keptRows) reward[row] = r;
    }

    public void Save(StrategyState state)
    {
        state.Scalars["probe_count"] = _count;
        state.Scalars["probe_mean"] = _mean;
        state.Scalars["probe_m2"] = _m2;
    }

    public void Load(StrategyState state)
    {
        _count = state.Scalar("probe_count");
        _mean = state.Scalar("probe_mean");
        _m2 = state.Scalar("probe_m2");
    }
}
