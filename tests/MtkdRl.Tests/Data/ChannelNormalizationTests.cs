using MtkdRl.Core;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Datasets;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Data;

public class ChannelNormalizationTests
{
    [Fact]
    public void Mean_and_std_per_channel_match_a_direct_computation()
    {
        int seed = TestSeeds.Next();
        const int n = 37, ch = 3, h = 4, w = 5;
        byte[] pixels = DataBytes.Random(seed, n * ch * h * w);
        for (int i = 0; i < pixels.Length; i++) if ((i / (h * w)) % ch == 2) pixels[i] /= 4; // a darker third channel
        var data = new LabeledImages("x", ch, h, w, pixels, new int[n], ClassNames.Digits);

        var norm = ChannelNormalization.FromTrainingSplit(data);

        for (int c = 0; c < ch; c++)
        {
            var values = Enumerable.Range(0, n).SelectMany(img => pixels.Skip((img * ch + c) * h * w).Take(h * w)).Select(v => v / 255.0).ToArray();
            double mean = values.Average();
            double std = Math.Sqrt(values.Select(v => (v - mean) * (v - mean)).Average());
            Assert.Equal(mean, norm.Mean[c], 1e-6);
            Assert.Equal(std, norm.Std[c], 1e-6);
        }
        Assert.True(norm.Mean[2] < norm.Mean[0] / 2, $"seed {seed}");
    }

    [Fact]
    public void Normalised_training_pixels_have_mean_zero_and_std_one()
    {
        int seed = TestSeeds.Next();
        var data = new LabeledImages("x", 1, 6, 6, DataBytes.Random(seed, 50 * 36), new int[50], ClassNames.Digits);
        var norm = ChannelNormalization.FromTrainingSplit(data);
        var loader = new BatchLoader(data, norm, BatchLoaderOptions.Evaluation(50));
        float[] values = loader.Epoch().Single().Images.ToArray();
        double mean = values.Average(v => (double)v);
        double std = Math.Sqrt(values.Average(v => (v - mean) * (v - mean)));
        Assert.Equal(0, mean, 1e-5);
        Assert.Equal(1, std, 1e-5);
    }

    [Fact]
    public void A_constant_channel_is_centred_not_divided_by_zero()
    {
        var data = new LabeledImages("x", 1, 2, 2, [51, 51, 51, 51], [0], ClassNames.Digits);
        var norm = ChannelNormalization.FromTrainingSplit(data);
        Assert.Equal(0.2f, norm.Mean[0], 1e-6f);
        Assert.Equal((float)ChannelNormalization.MinStd, norm.Std[0]);
        Assert.Equal(0f, norm.Apply(0, 51), 1e-3f);
    }

    [Fact]
    public void Invalid_statistics_are_refused()
    {
        Assert.Contains("must be positive", Assert.Throws<MtkdInputException>(() => new ChannelNormalization([0f], [0f])).Message);
        Assert.Contains("mean of channel 0 is NaN", Assert.Throws<MtkdInputException>(() => new ChannelNormalization([float.NaN], [1f])).Message);
        Assert.Contains("one mean and one std per channel", Assert.Throws<MtkdInputException>(() => new ChannelNormalization([0f, 0f], [1f])).Message);
    }

    [Fact]
    public void The_lookup_table_is_apply_for_every_byte()
    {
        var norm = new ChannelNormalization([0.1f, 0.7f], [0.3f, 0.2f]);
        float[] table = norm.LookupTable();
        for (int c = 0; c < 2; c++)
            for (int v = 0; v < 256; v++)
                Assert.Equal((v / 255f - norm.Mean[c]) / norm.Std[c], table[c * 256 + v]);
    }
}
