using MtkdRl.Core;
using MtkdRl.Teachers;
using MtkdRl.Tests.Training;
using MtkdRl.Training;

namespace MtkdRl.Tests.Teachers;

/// <summary>
/// The segmentation presets: every teacher builds on the demo's 40 x 40 canvases and the default 64 x 64 ones,
/// the pool is heterogeneous (distinct specs, a weak teacher on a subset), and the widest encoder sees at least an
/// object at the middle of the default scale range (28 pixels; objects are 17 to 39), which the earlier presets'
/// encoders (8 and 18 pixels) did not.
/// </summary>
public class SegmentationPresetTests
{
    [Theory]
    [InlineData("seg-quick", 3)]
    [InlineData("seg-default", 5)]
    public void Every_teacher_builds_on_the_demo_and_default_canvases_and_one_sees_a_whole_object(string preset, int count)
    {
        var recipe = PoolPresets.Recipe(preset);
        Assert.True(recipe.Teachers.Count >= count);
        Assert.Equal(recipe.Teachers.Count, recipe.Teachers.Select(t => t.Spec).Distinct().Count());
        Assert.Contains(recipe.Teachers, t => t.Subset > 0);
        int widest = 0;
        foreach (var t in recipe.Teachers)
        {
            var spec = ModelSpec.Parse(t.Spec);
            Assert.True(spec.IsSegmentation, t.Spec);
            foreach (int side in new[] { 40, 64 })
            {
                var model = spec.BuildSegmentation(SampleShape.Image(1, side, side), 11, TrainingTestCompute.Shared, new Rng(1));
                Assert.Equal(side * side, model.Pixels);
            }
            widest = Math.Max(widest, ReceptiveField(spec));
        }
        Assert.True(widest >= 28, $"{preset}: the widest encoder receptive field is {widest} pixels, less than a 28-pixel object");
    }

    [Theory]
    [InlineData("unet:16x32", 8)]
    [InlineData("unet:16x32,c2", 14)]
    [InlineData("fcn:16x32x48", 18)]
    [InlineData("unet:16x32x64x64", 38)]
    [InlineData("fcn:16", 3)]
    public void Receptive_field_of_the_encoder(string spec, int pixels) => Assert.Equal(pixels, ReceptiveField(ModelSpec.Parse(spec)));

    /// <summary>
    /// The encoder's receptive field in input pixels (the bottleneck's; a U-Net's decoder only adds to it):
    /// each 3x3 convolution adds 2 jumps, each 2x2 max pool 1 jump and doubles the jump.
    /// </summary>
    private static int ReceptiveField(ModelSpec spec)
    {
        int field = 1, jump = 1;
        for (int i = 0; i < spec.Widths.Count; i++)
        {
            if (i > 0) { field += jump; jump *= 2; }
            field += 2 * jump * spec.ConvsPerStage;
        }
        return field;
    }
}
