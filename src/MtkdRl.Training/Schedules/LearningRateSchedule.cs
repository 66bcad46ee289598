using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>
/// Learning rate as a function of a step counter that starts at 0 (the caller decides whether a step is
/// an iteration or an epoch). Schedules compose: <see cref="WarmupSchedule"/> scales any other one.
/// Typical use: <c>optimizer.LearningRate = schedule.At(step)</c> before each <c>optimizer.Step()</c>.
/// </summary>
public abstract class LearningRateSchedule
{
    public abstract double At(long step);

    protected static void CheckStep(long step)
    {
        if (step < 0) throw new MtkdInputException($"learning-rate schedule: step must be >= 0 (got {step})");
    }

    protected static void CheckRate(double rate, string name)
    {
        if (!(rate >= 0) || double.IsInfinity(rate))
            throw new MtkdInputException($"learning-rate schedule: {name} must be a finite number >= 0 (got {rate})");
    }
}

/// <summary>The same rate at every step.</summary>
public sealed class ConstantSchedule : LearningRateSchedule
{
    public ConstantSchedule(double rate)
    {
        CheckRate(rate, "rate");
        Rate = rate;
    }

    public double Rate { get; }

    public override double At(long step)
    {
        CheckStep(step);
        return Rate;
    }
}

/// <summary>rate * gamma^(number of milestones &lt;= step): at a milestone step the new rate already applies.</summary>
public sealed class MultiStepSchedule : LearningRateSchedule
{
    private readonly long[] _milestones;

    public MultiStepSchedule(double rate, IEnumerable<long> milestones, double gamma = 0.1)
    {
        CheckRate(rate, "rate");
        CheckRate(gamma, "gamma");
        _milestones = milestones.ToArray();
        for (int i = 0; i < _milestones.Length; i++)
        {
            if (_milestones[i] <= 0 || (i > 0 && _milestones[i] <= _milestones[i - 1]))
                throw new MtkdInputException(
                    $"multistep schedule: milestones must be positive and increasing (got {string.Join(", ", _milestones)})");
        }
        Rate = rate;
        Gamma = gamma;
    }

    public double Rate { get; }
    public double Gamma { get; }
    public IReadOnlyList<long> Milestones => _milestones;

    public override double At(long step)
    {
        CheckStep(step);
        int passed = 0;
        while (passed < _milestones.Length && _milestones[passed] <= step) passed++;
        return Rate * Math.Pow(Gamma, passed);
    }
}

/// <summary>
/// Cosine annealing from rate to minRate over steps [start, start + length]:
///   At(t) = minRate + (rate - minRate) (1 + cos(pi (t - start) / length)) / 2,
/// rate before start (so it can follow a warm-up) and minRate from start + length on.
/// </summary>
public sealed class CosineSchedule : LearningRateSchedule
{
    public CosineSchedule(double rate, long length, double minRate = 0, long start = 0)
    {
        CheckRate(rate, "rate");
        CheckRate(minRate, "minimum rate");
        if (length <= 0) throw new MtkdInputException($"cosine schedule: length must be positive (got {length})");
        if (start < 0) throw new MtkdInputException($"cosine schedule: start must be >= 0 (got {start})");
        Rate = rate;
        Length = length;
        MinRate = minRate;
        Start = start;
    }

    public double Rate { get; }
    public long Length { get; }
    public double MinRate { get; }
    public long Start { get; }

    public override double At(long step)
    {
        CheckStep(step);
        if (step <= Start) return Rate;
        if (step >= Start + Length) return MinRate;
        double progress = (double)(step - Start) / Length;
        return MinRate + (Rate - MinRate) * 0.5 * (1 + Math.Cos(Math.PI * progress));
    }
}

/// <summary>
/// Linear warm-up over the first <c>steps</c> steps, multiplying another schedule:
///   At(t) = inner.At(t) * (startFactor + (1 - startFactor) t / steps)   for t &lt; steps,   inner.At(t) after.
/// The inner schedule keeps its own step numbering (a multistep milestone at 30 stays at 30); to start a
/// cosine after the warm-up, give it <c>start: steps</c>.
/// </summary>
public sealed class WarmupSchedule : LearningRateSchedule
{
    public WarmupSchedule(long steps, LearningRateSchedule inner, double startFactor = 0.1)
    {
        if (steps <= 0) throw new MtkdInputException($"warm-up schedule: steps must be positive (got {steps})");
        if (!(startFactor is >= 0 and <= 1))
            throw new MtkdInputException($"warm-up schedule: start factor must be in [0, 1] (got {startFactor})");
        Steps = steps;
        Inner = inner;
        StartFactor = startFactor;
    }

    public long Steps { get; }
    public LearningRateSchedule Inner { get; }
    public double StartFactor { get; }

    public override double At(long step)
    {
        double rate = Inner.At(step);
        return step >= Steps ? rate : rate * (StartFactor + (1 - StartFactor) * step / Steps);
    }
}
