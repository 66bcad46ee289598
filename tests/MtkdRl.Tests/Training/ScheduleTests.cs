using MtkdRl.Core;
using MtkdRl.Training;

namespace MtkdRl.Tests.Training;

public class ScheduleTests
{
    [Fact]
    public void Multistep_changes_at_each_milestone_step()
    {
        var s = new MultiStepSchedule(0.1, [30, 60], gamma: 0.1);
        Assert.Equal(0.1, s.At(0), 12);
        Assert.Equal(0.1, s.At(29), 12);
        Assert.Equal(0.01, s.At(30), 12);
        Assert.Equal(0.01, s.At(59), 12);
        Assert.Equal(0.001, s.At(60), 12);
        Assert.Equal(0.001, s.At(1000), 12);
    }

    [Fact]
    public void Cosine_runs_from_rate_to_minimum_over_its_length()
    {
        var s = new CosineSchedule(0.1, 100, minRate: 0.001);
        Assert.Equal(0.1, s.At(0), 12);
        Assert.Equal(0.001 + 0.099 * 0.5, s.At(50), 12);
        Assert.Equal(0.001 + 0.099 * 0.5 * (1 + Math.Cos(Math.PI * 0.25)), s.At(25), 12);
        Assert.Equal(0.001, s.At(100), 12);
        Assert.Equal(0.001, s.At(150), 12);
        var shifted = new CosineSchedule(0.1, 100, start: 10);
        Assert.Equal(0.1, shifted.At(10), 12);
        Assert.Equal(0.05, shifted.At(60), 12);
        Assert.Equal(0.0, shifted.At(110), 12);
    }

    [Fact]
    public void Warmup_ramps_linearly_then_hands_over()
    {
        var s = new WarmupSchedule(10, new ConstantSchedule(0.2), startFactor: 0);
        Assert.Equal(0.0, s.At(0), 12);
        Assert.Equal(0.1, s.At(5), 12);
        Assert.Equal(0.18, s.At(9), 12);
        Assert.Equal(0.2, s.At(10), 12);
        var withStart = new WarmupSchedule(4, new ConstantSchedule(1.0), startFactor: 0.2);
        Assert.Equal(0.2, withStart.At(0), 12);
        Assert.Equal(0.6, withStart.At(2), 12);
        Assert.Equal(1.0, withStart.At(4), 12);
    }

    [Fact]
    public void Warmup_composes_with_cosine_and_multistep()
    {
        var cosine = new WarmupSchedule(5, new CosineSchedule(1.0, 20, start: 5), startFactor: 0);
        Assert.Equal(0.4, cosine.At(2), 12);
        Assert.Equal(1.0, cosine.At(5), 12);
        Assert.Equal(0.5, cosine.At(15), 12);
        Assert.Equal(0.0, cosine.At(25), 12);
        var multistep = new WarmupSchedule(3, new MultiStepSchedule(1.0, [2, 6], 0.5), startFactor: 0);
        Assert.Equal(0.5 * 2 / 3, multistep.At(2), 12); // milestones keep their own numbering, inside the warm-up too
        Assert.Equal(0.5, multistep.At(3), 12);
        Assert.Equal(0.25, multistep.At(6), 12);
    }

    [Fact]
    public void Invalid_schedules_are_refused()
    {
        Assert.Throws<MtkdInputException>(() => new MultiStepSchedule(0.1, [30, 30]));
        Assert.Throws<MtkdInputException>(() => new MultiStepSchedule(0.1, [0]));
        Assert.Throws<MtkdInputException>(() => new CosineSchedule(0.1, 0));
        Assert.Throws<MtkdInputException>(() => new WarmupSchedule(0, new ConstantSchedule(1)));
        Assert.Throws<MtkdInputException>(() => new WarmupSchedule(3, new ConstantSchedule(1), startFactor: 2));
        Assert.Throws<MtkdInputException>(() => new ConstantSchedule(double.NaN));
        Assert.Throws<MtkdInputException>(() => new ConstantSchedule(1).At(-1));
    }
}
