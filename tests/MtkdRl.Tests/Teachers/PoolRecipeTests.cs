using MtkdRl.Core;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Datasets;
using MtkdRl.Teachers;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Training;

namespace MtkdRl.Tests.Teachers;

/// <summary>Pool recipes as files, the shipped presets, and augmentation that follows the dataset.</summary>
public class PoolRecipeTests
{
    private static ImageDataset Named(string name, DatasetDescriptor? descriptor = null)
    {
        var tiny = TeacherTestData.Tiny;
        return new ImageDataset(name, tiny.Source, tiny.Train, tiny.Test, descriptor);
    }

    /// <summary>
    /// The shipped quick file gives, on Fashion-MNIST, the teachers it describes (two CNNs well above a small student,
    /// a wide MLP, a weak linear model), and the default file the teachers the preset trained before it was a file,
    /// so pools trained then are still recognised as complete.
    /// </summary>
    [Fact]
    public void Shipped_presets_on_fashion_mnist_train_the_teachers_their_files_describe()
    {
        var quick = PoolPresets.Get("quick", TeacherTestData.Slice, seed: 1);
        TrainingRecipe[] expected =
        [
            new() { Spec = "cnn:16x32,fc64", Epochs = 12, LearningRate = 0.05, WarmupEpochs = 1, HorizontalFlip = true, Seed = 1001 },
            new() { Spec = "mlp:512x512", Epochs = 10, LearningRate = 0.05, WarmupEpochs = 1, Seed = 1002 },
            new() { Spec = "linear", Epochs = 2, LearningRate = 0.01, Seed = 1003 },
            new() { Spec = "cnn:32x64", Epochs = 8, LearningRate = 0.05, WarmupEpochs = 1, HorizontalFlip = true, Seed = 1004 },
        ];
        Assert.Equal(["cnn", "mlp", "linear", "cnn-wide"], quick.Select(p => p.Name));
        Assert.Equal(expected, quick.Select(p => p.Recipe));

        var wide = PoolPresets.Get("default", Named("fashion-mnist"), seed: 3, epochs: 1)[0];
        Assert.Equal(new TrainingRecipe { Spec = "cnn:32x64", Epochs = 1, LearningRate = 0.05, WarmupEpochs = 0, HorizontalFlip = true, Seed = 3001 }, wide.Recipe);
    }

    [Fact]
    public void Min_steps_give_a_small_dataset_more_epochs_and_leave_a_large_one_alone()
    {
        // 600 rows in batches of 128 with the ragged last one dropped: 4 steps an epoch, so 600 steps are 150 epochs.
        var small = PoolPresets.Get("quick", TeacherTestData.Tiny, seed: 1);
        Assert.Equal([225, 150, 38, 150], small.Select(p => p.Recipe.Epochs));
        Assert.Equal([19, 15, 0, 19], small.Select(p => p.Recipe.WarmupEpochs));
        Assert.Equal(12, PoolPresets.Get("quick", TeacherTestData.Slice, seed: 1)[0].Recipe.Epochs);
        var widened = PoolPresets.Get("default", TeacherTestData.Tiny, seed: 1)[0].Recipe;
        Assert.Equal((600, 75), (widened.Epochs, widened.WarmupEpochs));
        // An explicit --epochs is taken as given.
        Assert.All(PoolPresets.Get("quick", TeacherTestData.Tiny, seed: 1, epochs: 3), p => Assert.Equal(3, p.Recipe.Epochs));
        Assert.Equal((4, 2), (SupervisedTrainer.BatchesPerEpoch(600, 128), SupervisedTrainer.BatchesPerEpoch(200, 128)));
    }

    [Theory]
    [InlineData("mnist", false, 2)]
    [InlineData("my-glyphs", false, 2)]
    [InlineData("fashion-mnist", true, 0)]
    [InlineData("cifar-10", true, 0)]
    public void Auto_augmentation_flips_only_mirror_invariant_data(string dataset, bool flip, int crop)
    {
        var cnn = PoolPresets.Get("quick", Named(dataset), seed: 1)[0].Recipe;
        Assert.Equal((crop, flip), (cnn.CropPadding, cnn.HorizontalFlip));
        var mlp = PoolPresets.Get("quick", Named(dataset), seed: 1)[1].Recipe;
        Assert.Equal((0, false), (mlp.CropPadding, mlp.HorizontalFlip));
    }

    [Fact]
    public void A_dataset_descriptor_overrides_what_is_known_of_the_dataset()
    {
        Assert.False(Named("fashion-mnist", new DatasetDescriptor { MirrorInvariant = false }).Mirror.Invariant);
        Assert.True(Named("mnist", new DatasetDescriptor { MirrorInvariant = true }).Mirror.Invariant);
        Assert.True(Named("mnist", new DatasetDescriptor()).Mirror.Invariant is false);
    }

    [Fact]
    public void Dataset_json_is_read_from_the_folder_and_a_bad_one_is_a_one_line_error()
    {
        using var temp = new TempFolder();
        string dir = TeacherTestData.WriteIdx(TeacherTestData.Tiny, temp.Root, "digits");
        Assert.False(DatasetLocator.Load(dir).Mirror.Invariant);
        File.WriteAllText(Path.Combine(dir, "dataset.json"), "{ \"name\": \"mirrored digits\", \"mirror_invariant\": true, \"canvas\": 64 }");
        var data = DatasetLocator.Load(dir);
        Assert.True(data.Mirror.Invariant);
        Assert.Equal("dataset.json", data.Mirror.Source);
        File.WriteAllText(Path.Combine(dir, "dataset.json"), "{ \"mirror_invariant\": \"yes\" ");
        var e = Assert.Throws<MtkdInputException>(() => DatasetLocator.Load(dir));
        Assert.StartsWith(Path.Combine(dir, "dataset.json") + ": not a valid dataset descriptor", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData("none", 0, false)]
    [InlineData("flip", 0, true)]
    [InlineData("crop:4", 4, false)]
    [InlineData("Crop:3+flip", 3, true)]
    [InlineData("flip+crop:1", 1, true)]
    public void Explicit_augmentation_is_taken_as_given(string spec, int crop, bool flip)
    {
        Assert.Equal(new Augmentation(crop, flip), AugmentationSpec.Resolve(spec, Named("mnist"), "--augment"));
        Assert.Equal(new Augmentation(crop, flip), AugmentationSpec.Parse(AugmentationSpec.Parse(spec, "x").ToString(), "x"));
    }

    [Theory]
    [InlineData("rotate")]
    [InlineData("crop:0")]
    [InlineData("crop:x")]
    [InlineData("flip+flip")]
    [InlineData("")]
    public void Malformed_augmentation_is_a_one_line_error(string spec)
    {
        var e = Assert.Throws<MtkdInputException>(() => AugmentationSpec.Resolve(spec, Named("mnist"), "--augment"));
        Assert.StartsWith($"--augment: augmentation '{spec}' is not one of", e.Message);
    }

    [Theory]
    [InlineData("{ \"teachers\": [] }", "the recipe lists no teachers")]
    [InlineData("{ \"teachers\": [ { \"name\": \"a\", \"spec\": \"mlp:8\", \"epoch\": 3 } ] }", "not a valid pool recipe")]
    [InlineData("{ \"teachers\": [ { \"name\": \"a\", \"spec\": \"mlp:8\" }, { \"name\": \"a\", \"spec\": \"linear\" } ] }", "teacher 'a' is listed twice")]
    [InlineData("{ \"teachers\": [ { \"name\": \"a\", \"spec\": \"mlp:8\", \"augment\": \"spin\" } ] }", "augmentation 'spin'")]
    [InlineData("{ \"teachers\": [ { \"name\": \"a\", \"spec\": \"mlp:8\", \"epochs\": 0 } ] }", "epochs must be at least 1")]
    [InlineData("{ \"teachers\": [ { \"name\": \"a\", \"spec\": \"resnet\" } ] }", "resnet")]
    [InlineData("{ \"teachers\": [ { \"name\": \"../a\", \"spec\": \"mlp:8\" } ] }", "a teacher name needs")]
    [InlineData("[1, 2]", "not a valid pool recipe")]
    public void A_bad_recipe_file_is_a_one_line_error_naming_it(string text, string expected)
    {
        using var temp = new TempFolder();
        string path = Path.Combine(temp.Root, "my-pool.json");
        File.WriteAllText(path, text);
        var e = Assert.Throws<MtkdInputException>(() => PoolRecipe.Read(path));
        Assert.StartsWith(path + ":", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_recipe_file_round_trips_and_overrides_apply_to_every_teacher()
    {
        var recipe = PoolRecipe.Parse(PoolPresets.Text("default"), "default");
        Assert.Equal(recipe.ToJson(), PoolRecipe.Parse(recipe.ToJson(), "again").ToJson());
        var changed = recipe.With(seed: 7, epochs: 2, augment: "crop:1");
        var plans = changed.Plans(Named("fashion-mnist"), "x");
        Assert.All(plans, p => Assert.Equal((2, 1, false), (p.Recipe.Epochs, p.Recipe.CropPadding, p.Recipe.HorizontalFlip)));
        Assert.Equal(Enumerable.Range(1, 6).Select(i => 7000UL + (ulong)i), plans.Select(p => p.Recipe.Seed));
    }

    [Fact]
    public void A_trained_pool_keeps_its_recipe_and_retraining_from_that_file_keeps_every_teacher()
    {
        using var temp = new TempFolder();
        string pool = temp.Sub("pool");
        var data = TeacherTestData.Tiny;
        var recipe = PoolPresets.Recipe("quick").With(seed: 2, epochs: 1, augment: null);
        recipe = recipe with { Teachers = recipe.Teachers.Skip(1).Take(2).ToList() };
        var first = TeacherPool.Train(pool, data, recipe, "test recipe", TrainingTestCompute.Shared);
        Assert.All(first, r => Assert.False(r.Skipped));
        string kept = Path.Combine(pool, PoolRecipe.FileName);
        var reread = PoolRecipe.Read(kept);
        Assert.Equal(["mlp", "linear"], reread.Teachers.Select(t => t.Name));
        Assert.Equal([2001UL, 2002UL], reread.Teachers.Select(t => t.Seed!.Value));

        var again = TeacherPool.Train(pool, data, reread, kept, TrainingTestCompute.Shared);
        Assert.All(again, r => Assert.True(r.Skipped));

        // Growing the pool by a teacher of another recipe keeps both in the kept file, seeds pinned.
        var other = PoolRecipe.Parse("{ \"seed\": 5, \"teachers\": [ { \"name\": \"tiny-mlp\", \"spec\": \"mlp:8\", \"epochs\": 1, \"augment\": \"none\" } ] }", "other");
        TeacherPool.Train(pool, data, other, "other", TrainingTestCompute.Shared);
        var merged = PoolRecipe.Read(kept);
        Assert.Equal(["mlp", "linear", "tiny-mlp"], merged.Teachers.Select(t => t.Name));
        Assert.Equal([2001UL, 2002UL, 5001UL], merged.Teachers.Select(t => t.Seed!.Value));
    }
}
