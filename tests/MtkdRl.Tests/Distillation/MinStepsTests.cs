using MtkdRl.Core;
using MtkdRl.Distillation;

namespace MtkdRl.Tests.Distillation;

public class MinStepsTests
{
    [Theory]
    [InlineData(10_000, 128, 600, 10)]   // the slice: 78 steps an epoch, 10 epochs already make 780
    [InlineData(60_000, 128, 600, 10)]
    [InlineData(1_438, 128, 600, 55)]    // the 8x8 digits: 11 steps an epoch
    [InlineData(1_000, 128, 600, 86)]    // 7 steps an epoch
    [InlineData(100, 128, 600, 600)]     // fewer rows than a batch: one step an epoch
    [InlineData(1_438, 128, 0, 10)]
    [InlineData(10_000, 128, DistillRecipe.DefaultMinSteps, 16)]   // the default: 1,200 steps, 16 epochs of the slice
    [InlineData(20_000, 128, DistillRecipe.DefaultMinSteps, 10)]
    [InlineData(1_438, 128, DistillRecipe.DefaultMinSteps, 110)]
    public void Epochs_rise_to_make_the_minimum_steps_and_never_fall(int rows, int batch, int minSteps, int epochs)
    {
        var recipe = new DistillRecipe { BatchSize = batch };
        Assert.Equal(epochs, recipe.WithMinSteps(minSteps, rows).Epochs);
        Assert.Equal(20, (recipe with { Epochs = 20 }).WithMinSteps(minSteps, 60_000).Epochs);
    }

    [Fact]
    public void A_negative_minimum_is_a_one_line_error() =>
        Assert.Equal("--min-steps must be >= 0 (got -1)", Assert.Throws<MtkdInputException>(() => new DistillRecipe().WithMinSteps(-1, 10)).Message);
}
