using MtkdRl.Core;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Datasets;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Data;

public class BatchLoaderTests
{
    private static LabeledImages RandomImages(int seed, int count, int channels = 2, int height = 5, int width = 6) =>
        new("random", channels, height, width, DataBytes.Random(seed, count * channels * height * width),
            Enumerable.Range(0, count).Select(i => (i * 7 + seed % 10) % 10).ToArray(), ClassNames.Digits);

    /// <summary>Every batch of an epoch, copied out of the shared buffer.</summary>
    private static List<(float[] Images, int[] Labels, int[] Indices)> Collect(BatchLoader loader, int batches = int.MaxValue)
    {
        var result = new List<(float[], int[], int[])>();
        var buffer = loader.CreateBatch();
        while (result.Count < batches && loader.TryNext(buffer))
            result.Add((buffer.Images.ToArray(), buffer.Labels.ToArray(), buffer.Indices.ToArray()));
        return result;
    }

    private static void AssertSameBatches(List<(float[] Images, int[] Labels, int[] Indices)> expected, List<(float[] Images, int[] Labels, int[] Indices)> actual, int seed)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.True(expected[i].Indices.SequenceEqual(actual[i].Indices), $"batch {i} indices differ (seed {seed})");
            Assert.True(expected[i].Labels.SequenceEqual(actual[i].Labels), $"batch {i} labels differ (seed {seed})");
            Assert.True(expected[i].Images.SequenceEqual(actual[i].Images), $"batch {i} images differ (seed {seed})");
        }
    }

    [Theory]
    [InlineData(false, 16)]
    [InlineData(true, 15)]
    public void Every_row_appears_exactly_once_per_epoch(bool dropLast, int expectedBatches)
    {
        int seed = TestSeeds.Next();
        var data = RandomImages(seed, 1003);
        var loader = new BatchLoader(data, ChannelNormalization.Unit(2), BatchLoaderOptions.Training(64, 2, true, dropLast), new Rng((ulong)seed));
        Assert.Equal(expectedBatches, loader.BatchesPerEpoch);

        for (int epoch = 0; epoch < 3; epoch++)
        {
            var batches = Collect(loader);
            Assert.Equal(expectedBatches, batches.Count);
            Assert.All(batches.SkipLast(1), b => Assert.Equal(64, b.Indices.Length));
            Assert.Equal(dropLast ? 64 : 1003 - 15 * 64, batches[^1].Indices.Length);
            int[] seen = batches.SelectMany(b => b.Indices).ToArray();
            Assert.Equal(seen.Length, seen.Distinct().Count());
            Assert.Equal(dropLast ? 960 : 1003, seen.Length);
            Assert.All(batches, b => Assert.Equal(b.Indices.Select(i => data.Labels[i]), b.Labels));
            Assert.Equal(epoch + 1, loader.EpochsCompleted);
        }
    }

    [Fact]
    public void Evaluation_order_is_the_dataset_order_with_exact_normalised_pixels()
    {
        var data = RandomImages(TestSeeds.Next(), 10);
        var norm = new ChannelNormalization([0.25f, 0.5f], [0.5f, 2f]);
        var loader = new BatchLoader(data, norm, BatchLoaderOptions.Evaluation(4));
        var batches = Collect(loader);

        Assert.Equal([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]], batches.Select(b => b.Indices));
        int plane = 30;
        for (int row = 0; row < 10; row++)
            for (int c = 0; c < 2; c++)
                for (int p = 0; p < plane; p++)
                {
                    byte v = data.Pixels[(row * 2 + c) * plane + p];
                    float expected = (v / 255f - norm.Mean[c]) / norm.Std[c];
                    Assert.Equal(expected, batches[row / 4].Images[((row % 4) * 2 + c) * plane + p]);
                }
    }

    [Fact]
    public void Same_seed_gives_the_same_batches_and_another_seed_another_order()
    {
        int seed = TestSeeds.Next();
        var data = RandomImages(seed, 300);
        var options = BatchLoaderOptions.Training(32, 2, true);
        var a = new BatchLoader(data, ChannelNormalization.Unit(2), options, new Rng(17));
        var b = new BatchLoader(data, ChannelNormalization.Unit(2), options, new Rng(17));
        var c = new BatchLoader(data, ChannelNormalization.Unit(2), options, new Rng(18));

        var first = Collect(a);
        AssertSameBatches(first, Collect(b), seed);
        Assert.NotEqual(first.SelectMany(x => x.Indices), Collect(c).SelectMany(x => x.Indices));
        Assert.NotEqual(first.SelectMany(x => x.Indices), Enumerable.Range(0, 300));
        Assert.NotEqual(first.SelectMany(x => x.Indices), Collect(a).SelectMany(x => x.Indices));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(10)]
    public void Restoring_a_saved_state_continues_with_the_same_batches(int batchesBeforeSave)
    {
        int seed = TestSeeds.Next();
        var data = RandomImages(seed, 317);
        var options = BatchLoaderOptions.Training(32, 3, true);
        var original = new BatchLoader(data, ChannelNormalization.Unit(2), options, new Rng((ulong)seed));
        Collect(original);                         // one full epoch first
        Collect(original, batchesBeforeSave);      // then part of the second
        LoaderState saved = original.State;
        var continuation = Collect(original).Concat(Collect(original)).ToList();

        var restored = new BatchLoader(data, ChannelNormalization.Unit(2), options, new Rng(12345));
        restored.Restore(saved);
        Assert.Equal((saved.Epoch, saved.NextBatch), (restored.State.Epoch, restored.State.NextBatch));
        var replay = Collect(restored).Concat(Collect(restored)).ToList();

        AssertSameBatches(continuation, replay, seed);
        Assert.Equal(original.EpochsCompleted, restored.EpochsCompleted);
        Assert.Equal(original.State.RngState, restored.State.RngState);
    }

    [Fact]
    public void Batches_report_dataset_indices_when_iterating_a_subset()
    {
        var data = RandomImages(1, 50);
        int[] rows = [49, 3, 17, 8, 22];
        var loader = new BatchLoader(data, ChannelNormalization.Unit(2), BatchLoaderOptions.Training(2), new Rng(5), rows);
        var seen = Collect(loader).SelectMany(b => b.Indices).Order().ToArray();
        Assert.Equal(rows.Order(), seen);
    }

    [Fact]
    public void Batch_metadata_says_where_in_the_epoch_it_is()
    {
        var loader = new BatchLoader(RandomImages(1, 5), ChannelNormalization.Unit(2), BatchLoaderOptions.Evaluation(2));
        var positions = loader.Epoch().Select(b => (b.Epoch, b.BatchIndex, b.Count)).ToList();
        Assert.Equal([(0, 0, 2), (0, 1, 2), (0, 2, 1)], positions);
        Assert.Equal(1, loader.Epoch().First().Epoch);
    }

    [Fact]
    public void Bad_options_are_refused()
    {
        var data = RandomImages(1, 10);
        var unit = ChannelNormalization.Unit(2);
        Assert.Contains("batch size must be at least 1", Assert.Throws<MtkdInputException>(() => new BatchLoader(data, unit, BatchLoaderOptions.Evaluation(0))).Message);
        Assert.Contains("make no full batch of 16", Assert.Throws<MtkdInputException>(() => new BatchLoader(data, unit, BatchLoaderOptions.Training(16, dropLast: true), new Rng(1))).Message);
        Assert.Contains("normalisation has 1", Assert.Throws<MtkdInputException>(() => new BatchLoader(data, ChannelNormalization.Unit(1), BatchLoaderOptions.Evaluation(2))).Message);
        Assert.Contains("crop padding 6 must lie in 0..5", Assert.Throws<MtkdInputException>(() => new BatchLoader(data, unit, BatchLoaderOptions.Training(2, 6), new Rng(1))).Message);
        Assert.Throws<ArgumentException>(() => new BatchLoader(data, unit, BatchLoaderOptions.Training(2)));
        var loader = new BatchLoader(data, unit, BatchLoaderOptions.Training(2), new Rng(1));
        Assert.Throws<MtkdInputException>(() => loader.Restore(new LoaderState([1, 2, 3, 4], 0, 6)));
        Assert.Throws<MtkdInputException>(() => loader.Restore(new LoaderState(null, 0, 0)));
    }
}
