using MtkdRl.Core;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Datasets;

namespace MtkdRl.Tests.Data;

public class AugmentationTests
{
    // A 3x4 image whose pixels are 1..12, row by row.
    private static readonly byte[] Image = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

    private static float[] IdentityTable(int channels) =>
        Enumerable.Range(0, channels * 256).Select(i => (float)(i % 256 + 100 * (i / 256))).ToArray();

    [Theory]
    [InlineData(1, -1, false, new float[] { 0, 5, 6, 7, 0, 9, 10, 11, 0, 0, 0, 0 })]
    [InlineData(1, -1, true, new float[] { 7, 6, 5, 0, 11, 10, 9, 0, 0, 0, 0, 0 })]
    [InlineData(-1, 2, false, new float[] { 0, 0, 0, 0, 3, 4, 0, 0, 7, 8, 0, 0 })]
    [InlineData(0, 0, true, new float[] { 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9 })]
    [InlineData(0, 4, false, new float[] { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 })]
    public void A_shifted_crop_moves_pixels_where_the_hand_computed_image_says(int dy, int dx, bool flip, float[] expected)
    {
        var output = new float[12];
        ImageConversion.ConvertShifted(Image, output, 1, 3, 4, IdentityTable(1), dy, dx, flip);
        Assert.Equal(expected, output);
    }

    [Fact]
    public void Padding_is_black_normalised_per_channel()
    {
        byte[] twoChannels = [.. Image, .. Image];
        var output = new float[24];
        ImageConversion.ConvertShifted(twoChannels, output, 2, 3, 4, IdentityTable(2), 2, 0, false);
        Assert.Equal(new float[] { 9, 10, 11, 12, 0, 0, 0, 0, 0, 0, 0, 0, 109, 110, 111, 112, 100, 100, 100, 100, 100, 100, 100, 100 }, output);
    }

    /// <summary>Pads with black explicitly, cuts the window at (oy, ox), mirrors: the textbook definition, written independently of the loader.</summary>
    private static float[] Reference(int padding, int oy, int ox, bool flip)
    {
        int h = 3, w = 4, ph = h + 2 * padding, pw = w + 2 * padding;
        var padded = new float[ph, pw];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                padded[y + padding, x + padding] = Image[y * w + x] / 255f;
        var result = new float[h * w];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                result[y * w + (flip ? w - 1 - x : x)] = padded[y + oy, x + ox];
        return result;
    }

    [Fact]
    public void Loader_crops_and_flips_give_every_window_and_mirror_and_nothing_else()
    {
        const int padding = 1, copies = 200, epochs = 5;
        var data = new LabeledImages("one", 1, 3, 4, [.. Enumerable.Repeat(Image, copies).SelectMany(i => i)], new int[copies], ClassNames.Digits);
        var loader = new BatchLoader(data, ChannelNormalization.Unit(1), BatchLoaderOptions.Training(64, padding, true), new Rng(99));

        var candidates = new Dictionary<string, (int, int, bool)>();
        for (int oy = 0; oy <= 2 * padding; oy++)
            for (int ox = 0; ox <= 2 * padding; ox++)
                foreach (bool flip in new[] { false, true })
                    candidates[string.Join(",", Reference(padding, oy, ox, flip))] = (oy, ox, flip);
        Assert.Equal(18, candidates.Count);

        var counts = new Dictionary<(int, int, bool), int>();
        for (int e = 0; e < epochs; e++)
            foreach (var batch in loader.Epoch())
                for (int i = 0; i < batch.Count; i++)
                {
                    string key = string.Join(",", batch.Image(i).ToArray());
                    Assert.True(candidates.TryGetValue(key, out var which), $"output {key} is no crop/flip of the image");
                    counts[which] = counts.GetValueOrDefault(which) + 1;
                }
        Assert.Equal(18, counts.Count);
        // 1000 draws over 18 outcomes: about 56 each; 25..95 is beyond five standard deviations.
        Assert.All(counts.Values, c => Assert.InRange(c, 25, 95));
    }

    [Fact]
    public void Flip_alone_mirrors_about_half_the_images_and_leaves_the_rest_untouched()
    {
        const int copies = 1000;
        var data = new LabeledImages("one", 1, 3, 4, [.. Enumerable.Repeat(Image, copies).SelectMany(i => i)], new int[copies], ClassNames.Digits);
        var loader = new BatchLoader(data, ChannelNormalization.Unit(1), new BatchLoaderOptions { BatchSize = 100, HorizontalFlip = true }, new Rng(3));
        string plain = string.Join(",", Reference(0, 0, 0, false)), mirrored = string.Join(",", Reference(0, 0, 0, true));
        int flipped = 0;
        foreach (var batch in loader.Epoch())
            for (int i = 0; i < batch.Count; i++)
            {
                string key = string.Join(",", batch.Image(i).ToArray());
                Assert.True(key == plain || key == mirrored, $"output {key} is neither the image nor its mirror");
                if (key == mirrored) flipped++;
            }
        // Binomial(1000, 1/2): standard deviation about 16.
        Assert.InRange(flipped, 400, 600);
    }

    [Fact]
    public void Without_augmentation_the_image_is_unchanged()
    {
        var data = new LabeledImages("one", 1, 3, 4, Image, [0], ClassNames.Digits);
        var loader = new BatchLoader(data, ChannelNormalization.Unit(1), BatchLoaderOptions.Evaluation(1));
        Assert.Equal(Reference(0, 0, 0, false), loader.Epoch().Single().Images.ToArray());
    }
}
