using MtkdRl.Data.Scenes;
using MtkdRl.Teachers;
using MtkdRl.Tests.Cli;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Teachers;

namespace MtkdRl.Tests.Scenes;

/// <summary>
/// A dataset.json alone does not make a folder a scenes folder: classification datasets carry one too (their name,
/// mirror_invariant), and the commands must keep reading those as classification data.
/// </summary>
public class SceneFolderKindTests
{
    [Theory]
    [InlineData(null, false)]
    [InlineData("{ \"name\": \"digits\", \"mirror_invariant\": false }", false)]
    [InlineData("{ \"task_kinds\": [] }", false)]
    [InlineData("{ \"task_kinds\": \"segmentation\" }", false)]
    [InlineData("{ \"task_kinds\": [\"classification\"] }", false)]
    [InlineData("{ \"task_kinds\": [\"segmentation\"", false)]
    [InlineData("[1, 2]", false)]
    [InlineData("{ \"task_kinds\": [\"segmentation\"] }", true)]
    [InlineData("{ \"name\": \"s\", \"task_kinds\": [\"detection\"] }", true)]
    public void Only_a_descriptor_naming_a_dense_task_makes_a_scenes_folder(string? descriptor, bool scenes)
    {
        using var temp = new TempFolder();
        if (descriptor is not null) File.WriteAllText(SceneFiles.Descriptor(temp.Root), descriptor);
        Assert.Equal(scenes, SceneFiles.IsScenesFolder(temp.Root));
    }

    [Fact]
    public void A_generated_scenes_folder_is_one()
    {
        using var temp = new TempFolder();
        var data = SceneSources.Rings3(temp.Sub("source"));
        string dir = Path.Combine(temp.Root, "scenes");
        SceneGenerator.Write(data, new SceneOptions { Canvas = 24, TrainCount = 6, TestCount = 3, Seed = 1 }, dir);
        Assert.True(SceneFiles.IsScenesFolder(dir));
        Assert.False(SceneFiles.IsScenesFolder(temp.Sub("source")));
    }

    [Fact]
    public void Teachers_train_reads_a_classification_folder_with_a_dataset_json_as_classification()
    {
        using var temp = new TempFolder();
        string dir = TeacherTestData.WriteIdx(TeacherTestData.Tiny, temp.Root, "digits");
        File.WriteAllText(Path.Combine(dir, "dataset.json"), "{ \"name\": \"my digits\", \"mirror_invariant\": false }");
        string pool = Path.Combine(temp.Root, "pool");
        var run = CliRun.Run("teachers", "train", "--data", dir, "--pool", pool, "--preset", "quick", "--epochs", "1", "--threads", "2");
        CliRun.AssertOk(run);
        Assert.Contains("flips: not used (dataset.json)", run.Out);
        var manifest = PoolManifest.Read(pool);
        Assert.Null(manifest.Task);
        Assert.Equal(4, manifest.Teachers.Count);
    }
}
