using System.Security.Cryptography;
using System.Text.RegularExpressions;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Datasets;

namespace MtkdRl.Tests.Data;

/// <summary>The committed slice, always; the full Fashion-MNIST where Debian's dataset-fashion-mnist is installed.</summary>
public class FashionMnistTests
{
    private const string SliceTrain = "5c5fd184a7196442eca76065d77410861d9ddb90eec0ef28877e5a7c8f811095";
    private const string SliceTest = "9847e2b9e1320dadba52628517fc9b5875274a4d129172fa27e57feeef9e1397";
    private const string FullTrain = "3d4739500846151966f313ab706746ea91f425a5ad71333e0d205b37c80dd3d6";
    private const string FullTest = "4b4e7afe4693d1cfd9b69b049f1864a4ee0a422b5507edee7ee198250b73b0d8";

    private static readonly Lazy<ImageDataset> Slice = new(() => DatasetLocator.Load(Path.Combine(RepositoryPaths.Root, DatasetLocator.CommittedSlice)));

    private static readonly Lazy<ImageDataset?> Full = new(() =>
        Directory.Exists(DatasetLocator.SystemFashionMnist) ? DatasetLocator.Load(DatasetLocator.SystemFashionMnist) : null);

    [Fact]
    public void The_committed_slice_has_1000_train_and_200_test_images_per_class()
    {
        ImageDataset slice = Slice.Value;
        Assert.Equal("fashion-mnist", slice.Name);
        Assert.Equal((1, 28, 28, 10), (slice.Channels, slice.Height, slice.Width, slice.ClassCount));
        Assert.Equal((10_000, 2_000), (slice.Train.Count, slice.Test.Count));
        Assert.All(slice.Train.ClassCounts(), c => Assert.Equal(1000, c));
        Assert.All(slice.Test.ClassCounts(), c => Assert.Equal(200, c));
        Assert.Equal(SliceTrain, slice.Train.FingerprintHex);
        Assert.Equal(SliceTest, slice.Test.FingerprintHex);
    }

    [Fact]
    public void The_locator_finds_the_committed_slice_without_the_system_dataset()
    {
        string? found = DatasetLocator.FindCommittedSlice();
        Assert.NotNull(found);
        Assert.Equal(Path.GetFullPath(Path.Combine(RepositoryPaths.Root, DatasetLocator.CommittedSlice)), Path.GetFullPath(found));
        DatasetChoice choice = DatasetLocator.Resolve(null, systemDir: null);
        Assert.Equal(found, choice.Directory);
        Assert.Contains("slice", choice.Reason);
    }

    [Fact]
    public void The_readme_lists_the_committed_files_sizes_and_hashes()
    {
        string readme = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "data", "README.md"));
        var rows = Regex.Matches(readme, @"\| `([\w.-]+\.gz)` \| (\d+) \| `([0-9a-f]{64})` \|");
        Assert.Equal(4, rows.Count);
        foreach (Match row in rows)
        {
            string path = Path.Combine(RepositoryPaths.Root, DatasetLocator.CommittedSlice, row.Groups[1].Value);
            byte[] bytes = File.ReadAllBytes(path);
            Assert.Equal(long.Parse(row.Groups[2].Value), bytes.Length);
            Assert.Equal(row.Groups[3].Value, Convert.ToHexStringLower(SHA256.HashData(bytes)));
        }
        Assert.Contains(SliceTrain, readme);
        Assert.Contains(FullTrain, readme);
    }

    [SkippableFact]
    public void The_full_set_has_60000_and_10000_images_and_a_stable_fingerprint()
    {
        ImageDataset? full = Full.Value;
        Skip.If(full is null, $"{DatasetLocator.SystemFashionMnist} is not installed (Debian package dataset-fashion-mnist)");
        Assert.Equal((60_000, 10_000), (full.Train.Count, full.Test.Count));
        Assert.All(full.Train.ClassCounts(), c => Assert.Equal(6000, c));
        Assert.Equal(FullTrain, full.Train.FingerprintHex);
        Assert.Equal(FullTest, full.Test.FingerprintHex);

        var norm = ChannelNormalization.FromTrainingSplit(full.Train);
        Assert.Equal(0.2860, norm.Mean[0], 1e-4);
        Assert.Equal(0.3530, norm.Std[0], 1e-4);
        Assert.Equal(DatasetLocator.SystemFashionMnist, DatasetLocator.Resolve(null).Directory);
    }

    [Trait("Category", "Slow")]
    [SkippableFact]
    public void Every_slice_image_is_a_full_set_image_with_the_same_label()
    {
        ImageDataset? full = Full.Value;
        Skip.If(full is null, $"{DatasetLocator.SystemFashionMnist} is not installed (Debian package dataset-fashion-mnist)");
        foreach (var (part, whole) in new[] { (Slice.Value.Train, full.Train), (Slice.Value.Test, full.Test) })
        {
            var known = new HashSet<string>();
            for (int i = 0; i < whole.Count; i++) known.Add(Key(whole, i));
            for (int i = 0; i < part.Count; i++)
                Assert.True(known.Contains(Key(part, i)), $"{part.Name} row {i} is not in {whole.Name}");
        }
    }

    private static string Key(LabeledImages images, int row) => Convert.ToBase64String(images.Image(row)) + "/" + images.Labels[row];
}
