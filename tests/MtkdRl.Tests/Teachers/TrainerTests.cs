using System.Text.Json;
using MtkdRl.Core;
using MtkdRl.Teachers;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Training;

namespace MtkdRl.Tests.Teachers;

/// <summary>The supervised trainer: exact resume, metrics lines, refusals, and real learning on the committed slice.</summary>
public class TrainerTests
{
    private static readonly TrainingRecipe Recipe = new()
    {
        Spec = "mlp:32,bn,drop0.2", Epochs = 2, BatchSize = 64, LearningRate = 0.05, CropPadding = 2, HorizontalFlip = true,
        WarmupEpochs = 1, Seed = 9,
    };

    /// <summary>Cancels once the first epoch is done (its checkpoint written): an interrupted run.</summary>
    private sealed class StopAfterFirstEpoch(CancellationTokenSource source) : ITrainingObserver
    {
        public void EpochStarted(string model, int epoch, int epochs, int batches) { }
        public void BatchDone(string model, int batch, double loss) { }
        public void EpochDone(EpochMetrics metrics) => source.Cancel();
    }

    [Fact]
    public void Two_epochs_straight_equal_one_epoch_then_a_resume_bit_for_bit()
    {
        using var temp = new TempFolder();
        var trainer = new SupervisedTrainer(TeacherTestData.Tiny, TrainingTestCompute.Shared);
        var straight = trainer.Train("t", Recipe, temp.File("straight/t"), temp.File("straight/t.metrics.jsonl"));
        Assert.True(straight.Completed);

        using var stop = new CancellationTokenSource();
        var first = trainer.Train("t", Recipe, temp.File("resumed/t"), temp.File("resumed/t.metrics.jsonl"), new StopAfterFirstEpoch(stop), stop.Token);
        Assert.False(first.Completed);
        Assert.Equal(1, first.Checkpoint.Epoch);
        var second = trainer.Train("t", Recipe, temp.File("resumed/t"), temp.File("resumed/t.metrics.jsonl"));
        Assert.True(second.Completed);
        Assert.True(second.Resumed);

        var a = straight.Model.NamedTensors.ToList();
        var b = second.Model.NamedTensors.ToList();
        Assert.Equal(a.Select(t => t.Name), b.Select(t => t.Name));
        for (int i = 0; i < a.Count; i++) Assert.Equal(a[i].Value, b[i].Value);
        Assert.Equal(straight.Checkpoint.Step, second.Checkpoint.Step);
        Assert.Equal(straight.Checkpoint.TestAccuracy, second.Checkpoint.TestAccuracy);
        Assert.Equal(File.ReadAllBytes(temp.File("straight/t.safetensors")), File.ReadAllBytes(temp.File("resumed/t.safetensors")));

        // The resumed run's metrics file holds both epochs, each line with the documented fields.
        var lines = File.ReadAllLines(temp.File("resumed/t.metrics.jsonl"));
        Assert.Equal(2, lines.Length);
        for (int e = 0; e < 2; e++)
        {
            using var doc = JsonDocument.Parse(lines[e]);
            var r = doc.RootElement;
            Assert.Equal(e + 1, r.GetProperty("epoch").GetInt32());
            foreach (string f in new[] { "step", "loss", "train_acc", "test_acc", "lr", "seconds", "samples_per_s" })
                Assert.True(r.TryGetProperty(f, out _), $"missing field {f}");
        }
        Assert.Empty(Directory.GetFiles(temp.Root, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void A_checkpoint_of_another_recipe_is_not_resumed()
    {
        using var temp = new TempFolder();
        var trainer = new SupervisedTrainer(TeacherTestData.Tiny, TrainingTestCompute.Shared);
        trainer.Train("t", Recipe with { Epochs = 1, WarmupEpochs = 0 }, temp.File("t"));
        var e = Assert.Throws<MtkdInputException>(() => trainer.Train("t", Recipe, temp.File("t")));
        Assert.StartsWith($"{temp.File("t.json")}: was trained with another recipe (mlp:32,bn,drop0.2, 1 epochs", e.Message);
    }

    [Fact]
    public void A_subset_teacher_trains_on_the_same_seeded_rows_every_time()
    {
        var recipe = Recipe with { SubsetSize = 100 };
        var rows = SupervisedTrainer.SubsetRows(recipe, 600)!;
        Assert.Equal(100, rows.Length);
        Assert.Equal(rows, SupervisedTrainer.SubsetRows(recipe, 600));
        Assert.NotEqual(rows, SupervisedTrainer.SubsetRows(recipe with { Seed = 10 }, 600));
        Assert.Null(SupervisedTrainer.SubsetRows(recipe with { SubsetSize = 600 }, 600));
    }

    [Fact]
    public void A_specialist_trains_only_on_its_classes_and_bad_class_lists_are_one_line_errors()
    {
        int[] labels = [.. Enumerable.Range(0, 300).Select(i => i % 10)];
        var rows = SupervisedTrainer.TrainingRows(Recipe with { Classes = "1, 7" }, labels, 10, "teacher 't'")!;
        Assert.Equal(60, rows.Length);
        Assert.All(rows, r => Assert.Contains(labels[r], new[] { 1, 7 }));
        // A random subset is then drawn from the specialist's own rows only.
        var some = SupervisedTrainer.TrainingRows(Recipe with { Classes = "1,7", SubsetSize = 20 }, labels, 10, "teacher 't'")!;
        Assert.Equal(20, some.Length);
        Assert.All(some, r => Assert.Contains(labels[r], new[] { 1, 7 }));
        Assert.Null(SupervisedTrainer.TrainingRows(Recipe, labels, 10, "teacher 't'"));
        foreach (var (classes, message) in new[] { ("1,10", "class '10' is not one of 0..9"), ("2,x", "class 'x'"), ("3,3", "repeat a class") })
        {
            var e = Assert.Throws<MtkdInputException>(() => SupervisedTrainer.TrainingRows(Recipe with { Classes = classes }, labels, 10, "teacher 't'"));
            Assert.Contains(message, e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
        var plans = PoolPresets.Get("specialists", TeacherTestData.Tiny, 1);
        Assert.Equal(["0,2,4,6", "1,3,8", "5,7,9"], plans.Where(p => p.Recipe.Classes is not null).Select(p => p.Recipe.Classes!));
    }

    /// <summary>
    /// An MLP with one hidden layer of 256 reaches about 84-86% on this slice's test split after two epochs
    /// (and 88% on the full set after four); 80% leaves room for seed-to-seed variation while still failing
    /// for any broken piece (loader, normalisation, loss, optimiser or schedule), which lands near 10%.
    /// </summary>
    [Trait("Category", "Slow")]
    [Fact]
    public void An_mlp_learns_the_committed_slice_to_80_percent_in_two_epochs()
    {
        using var temp = new TempFolder();
        var recipe = new TrainingRecipe { Spec = "mlp:256", Epochs = 2, LearningRate = 0.05, Seed = 1 };
        var outcome = new SupervisedTrainer(TeacherTestData.Slice, TrainingTestCompute.Shared).Train("mlp", recipe, temp.File("mlp"));
        Assert.True(outcome.Checkpoint.TestAccuracy >= 0.80, $"test accuracy {outcome.Checkpoint.TestAccuracy:P2} (seed {recipe.Seed})");
    }
}
