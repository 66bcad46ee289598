using MtkdRl.Data.Scenes;

namespace MtkdRl.Tests.Scenes;

public class ImageResizeTests
{
    private static readonly byte[] TwoByTwo = [0, 100, 200, 40];

    [Fact]
    public void Bilinear_doubling_matches_values_worked_by_hand()
    {
        // Output x samples the source at (x + 0.5) / 2 - 0.5 = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
        // Row 0 (sy = 0): 0, 0.75*0 + 0.25*100 = 25, 75, 100. Row 1 (sy = 0.25) mixes in a quarter of row 1 (200, 40):
        // 0.75*0 + 0.25*200 = 50; 0.75*25 + 0.25*(0.75*200 + 0.25*40 = 160) = 58.75 -> 59; 0.75*75 + 0.25*80 = 76.25 -> 76; 0.75*100 + 0.25*40 = 85.
        var result = ImageResize.Resize(TwoByTwo, 1, 2, 2, 4, 4, SceneInterpolation.Bilinear);
        Assert.Equal(new byte[] { 0, 25, 75, 100 }, result[..4]);
        Assert.Equal(new byte[] { 50, 59, 76, 85 }, result[4..8]);
        Assert.Equal(new byte[] { 200, 160, 80, 40 }, result[12..16]);
    }

    [Fact]
    public void Nearest_doubling_repeats_each_pixel()
    {
        var result = ImageResize.Resize(TwoByTwo, 1, 2, 2, 4, 4, SceneInterpolation.Nearest);
        Assert.Equal(new byte[] { 0, 0, 100, 100, 0, 0, 100, 100, 200, 200, 40, 40, 200, 200, 40, 40 }, result);
    }

    [Theory]
    [InlineData(SceneInterpolation.Bilinear)]
    [InlineData(SceneInterpolation.Nearest)]
    public void Constant_channels_stay_constant_at_any_size(SceneInterpolation interpolation)
    {
        var source = Enumerable.Repeat((byte)90, 49).Concat(Enumerable.Repeat((byte)7, 49)).ToArray();
        var result = ImageResize.Resize(source, 2, 7, 7, 11, 4, interpolation);
        Assert.All(result[..44], v => Assert.Equal(90, v));
        Assert.All(result[44..], v => Assert.Equal(7, v));
    }
}
