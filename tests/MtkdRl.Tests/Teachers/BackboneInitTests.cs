using MtkdRl.Core;
using MtkdRl.Data.Scenes;
using MtkdRl.Teachers;
using MtkdRl.Tests.Cli;
using MtkdRl.Tests.Scenes;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Training;
using MtkdRl.Training;

namespace MtkdRl.Tests.Teachers;

/// <summary>
/// A classifier's convolution stages initialise a segmentation or detection network stage by stage (weights and
/// BatchNorm statistics, nothing else), and a backbone that does not fit is refused in one line naming it.
/// </summary>
public class BackboneInitTests
{
    /// <summary>A cnn with random weights and moved BatchNorm statistics, saved as a classification checkpoint.</summary>
    private static (Model Model, string Path) SavedClassifier(TempFolder temp, string spec, int channels = 1)
    {
        var model = ModelSpec.Parse(spec).Build(SampleShape.Image(channels, 28, 28), 10, TrainingTestCompute.Shared, new Rng(11));
        var rng = new Rng(12);
        foreach (var t in model.NamedTensors)
            for (int i = 0; i < t.Value.Length; i++) t.Value[i] = (float)(rng.NextDouble() + 0.5);
        string basePath = temp.File("cls");
        Checkpoint.Save(basePath, model, new CheckpointConfig
        {
            Name = "cls",
            Dataset = new DatasetIdentity("d", "f"),
            Normalization = new NormalizationRecord([.. Enumerable.Repeat(0.5f, channels)], [.. Enumerable.Repeat(0.25f, channels)]),
            ClassNames = [.. Enumerable.Range(0, 10).Select(i => $"c{i}")],
        });
        return (model, basePath + ".json");
    }

    private static float[] Values(IEnumerable<NamedTensor> tensors, string name) => tensors.Single(t => t.Name == name).Value.ToArray();

    [Theory]
    [InlineData("unet:4x8x16", "enc")]
    [InlineData("fcn:4x8x16,c2", "enc")]
    [InlineData("det:4x8x16", "")]
    [InlineData("det:4x8x16,s2,u,h1", "")]
    public void Each_stage_of_the_classifier_initialises_the_first_block_of_the_same_stage(string target, string prefix)
    {
        using var temp = new TempFolder();
        var (classifier, path) = SavedClassifier(temp, "cnn:4x8x16x32,fc16");
        var spec = ModelSpec.Parse(target);
        var input = SampleShape.Image(1, 32, 32);
        IEnumerable<NamedTensor> tensors = spec.Family == ModelFamily.Det
            ? spec.BuildDetector(input, 3, TrainingTestCompute.Shared, new Rng(3)).NamedTensors.ToList()
            : spec.BuildSegmentation(input, 4, TrainingTestCompute.Shared, new Rng(3)).NamedTensors.ToList();
        var before = tensors.ToDictionary(t => t.Name, t => t.Value.ToArray());

        Assert.Equal(3, BackboneInit.Apply(tensors, path, TrainingTestCompute.Shared));

        var copied = new HashSet<string>();
        for (int n = 1; n <= 3; n++)
        {
            string conv = prefix == "enc" ? $"enc{n}_conv" : $"conv{n}", bn = prefix == "enc" ? $"enc{n}_bn" : $"bn{n}";
            Assert.Equal(Values(classifier.NamedTensors, $"conv{n}.weight"), Values(tensors, $"{conv}.weight"));
            foreach (var field in new[] { "weight", "bias", "running_mean", "running_var" })
                Assert.Equal(Values(classifier.NamedTensors, $"bn{n}.{field}"), Values(tensors, $"{bn}.{field}"));
            copied.Add($"{conv}.weight");
            foreach (var field in new[] { "weight", "bias", "running_mean", "running_var" }) copied.Add($"{bn}.{field}");
        }
        // Everything else (second blocks, decoder, heads) is as the network's own initialisation left it.
        foreach (var t in tensors.Where(t => !copied.Contains(t.Name)))
            Assert.Equal(before[t.Name], t.Value);
        Assert.Equal(15, copied.Count);
    }

    [Fact]
    public void A_classifier_with_two_blocks_a_stage_initialises_both_blocks_of_a_c2_network()
    {
        using var temp = new TempFolder();
        var (classifier, path) = SavedClassifier(temp, "cnn:4x8x16,c2,fc16");
        var unet = ModelSpec.Parse("unet:4x8x16,c2").BuildSegmentation(SampleShape.Image(1, 16, 16), 3, TrainingTestCompute.Shared, new Rng(3));
        Assert.Equal(3, BackboneInit.Apply(unet.NamedTensors, path, TrainingTestCompute.Shared));
        foreach (var source in classifier.NamedTensors.Where(t => t.Name.StartsWith("conv", StringComparison.Ordinal) || t.Name.StartsWith("bn", StringComparison.Ordinal)))
        {
            int dot = source.Name.IndexOf('.');
            string layer = source.Name.StartsWith("conv", StringComparison.Ordinal) ? "conv" : "bn";
            string stageAndBlock = source.Name[layer.Length..dot];
            Assert.Equal(source.Value, Values(unet.NamedTensors, $"enc{stageAndBlock}_{layer}{source.Name[dot..]}"));
        }
        // A c1 network takes the first block of each stage and leaves the second out.
        var det = ModelSpec.Parse("det:4x8x16").BuildDetector(SampleShape.Image(1, 16, 16), 2, TrainingTestCompute.Shared, new Rng(3));
        Assert.Equal(3, BackboneInit.Apply(det.NamedTensors, path, TrainingTestCompute.Shared));
        Assert.Equal(Values(classifier.NamedTensors, "conv2.weight"), Values(det.NamedTensors, "conv2.weight"));
    }

    [Fact]
    public void A_backbone_that_does_not_fit_is_refused_naming_its_file()
    {
        using var temp = new TempFolder();
        var unet = ModelSpec.Parse("unet:4x8").BuildSegmentation(SampleShape.Image(1, 16, 16), 3, TrainingTestCompute.Shared, new Rng(3));

        var (_, wide) = SavedClassifier(temp, "cnn:4x16");
        var e = Assert.Throws<MtkdInputException>(() => BackboneInit.Apply(unet.NamedTensors, wide, TrainingTestCompute.Shared));
        Assert.Equal($"{wide}: backbone tensor 'conv2.weight' has shape [16,4,3,3], the network's 'enc2_conv.weight' [8,4,3,3] (widths and input channels must match stage by stage)", e.Message);

        using var other = new TempFolder();
        var (_, noBn) = SavedClassifier(other, "cnn:4x8,nobn");
        e = Assert.Throws<MtkdInputException>(() => BackboneInit.Apply(unet.NamedTensors, noBn, TrainingTestCompute.Shared));
        Assert.StartsWith($"{noBn}: backbone cnn:4x8,nobn is not a cnn with BatchNorm", e.Message);

        using var rgb = new TempFolder();
        var (_, threeChannels) = SavedClassifier(rgb, "cnn:4x8", channels: 3);
        e = Assert.Throws<MtkdInputException>(() => BackboneInit.Apply(unet.NamedTensors, threeChannels, TrainingTestCompute.Shared));
        Assert.Contains(" has shape [4,3,3,3], the network's 'enc1_conv.weight' [4,1,3,3]", e.Message);

        e = Assert.Throws<MtkdInputException>(() => BackboneInit.Apply(unet.NamedTensors, Path.Combine(temp.Root, "missing.json"), TrainingTestCompute.Shared));
        Assert.Contains("missing.json", e.Message);
    }

    [Fact]
    public void A_recipe_names_its_backbone_and_a_classifier_spec_refuses_one()
    {
        var recipe = PoolRecipe.Parse("""{ "teachers": [ { "name": "u", "spec": "unet:4x8", "backbone": "pool/cnn.json" } ] }""", "r.json");
        Assert.Equal("pool/cnn.json", PoolRecipe.Base(recipe.Teachers[0]).Backbone);
        var e = Assert.Throws<MtkdInputException>(() =>
            PoolRecipe.Parse("""{ "teachers": [ { "name": "c", "spec": "cnn:4", "backbone": "pool/cnn.json" } ] }""", "r.json"));
        Assert.Equal("r.json: teacher 'c': a backbone initialises a segmentation or detection network (unet, fcn, det), not cnn:4", e.Message);
    }

    [Fact]
    public void Teachers_train_starts_a_scenes_teacher_from_its_backbone_and_refuses_one_that_does_not_fit()
    {
        using var temp = new TempFolder();
        string scenes = Path.Combine(temp.Root, "scenes");
        SceneGenerator.Write(SceneSources.Rings3(temp.Sub("source"), trainCount: 12, testCount: 6),
            new SceneOptions { Canvas = 16, TrainCount = 8, TestCount = 4, Seed = 3 }, scenes);
        var (_, fits) = SavedClassifier(temp, "cnn:4x8");
        string recipe = Path.Combine(temp.Root, "r.json");
        File.WriteAllText(recipe, $$"""{ "teachers": [ { "name": "u", "spec": "unet:4x8", "epochs": 1, "batch": 4, "backbone": "{{fits}}" } ] }""");
        var run = CliRun.Run("teachers", "train", "--data", scenes, "--pool", Path.Combine(temp.Root, "pool"), "--recipe", recipe, "--threads", "1");
        CliRun.AssertOk(run);
        Assert.Contains($"teacher 'u': its stages start from the backbone {fits}", run.Out);
        // The teacher is kept on a second run: its backbone is not needed any more, and may be gone.
        foreach (var file in Directory.GetFiles(Path.GetDirectoryName(fits)!, Path.GetFileNameWithoutExtension(fits) + ".*")) File.Delete(file);
        run = CliRun.Run("teachers", "train", "--data", scenes, "--pool", Path.Combine(temp.Root, "pool"), "--recipe", recipe, "--threads", "1");
        CliRun.AssertOk(run);

        using var other = new TempFolder();
        var (_, wide) = SavedClassifier(other, "cnn:4x16");
        File.WriteAllText(recipe, $$"""{ "teachers": [ { "name": "u", "spec": "unet:4x8", "epochs": 1, "batch": 4, "backbone": "{{wide}}" } ] }""");
        string pool = Path.Combine(temp.Root, "pool2");
        run = CliRun.Run("teachers", "train", "--data", scenes, "--pool", pool, "--recipe", recipe, "--threads", "1");
        CliRun.AssertOneLineError(run, $"{wide}: backbone tensor 'conv2.weight' has shape [16,4,3,3], the network's 'enc2_conv.weight' [8,4,3,3] (widths and input channels must match stage by stage)");
        // Checked before anything is written: no recipe, manifest or checkpoint in the new pool.
        Assert.False(File.Exists(Path.Combine(pool, "u.json")));
        Assert.False(File.Exists(Path.Combine(pool, PoolRecipe.FileName)));
        Assert.False(PoolManifest.Exists(pool));

        // A detector's recipe is checked the same way.
        File.WriteAllText(recipe, $$"""{ "task": "detection", "teachers": [ { "name": "d", "spec": "det:4x8", "epochs": 1, "batch": 4, "backbone": "{{wide}}" } ] }""");
        run = CliRun.Run("teachers", "train", "--data", scenes, "--pool", pool, "--recipe", recipe, "--threads", "1");
        CliRun.AssertOneLineError(run, $"{wide}: backbone tensor 'conv2.weight' has shape [16,4,3,3], the network's 'conv2.weight' [8,4,3,3]");
        Assert.False(PoolManifest.Exists(pool));
    }
}
