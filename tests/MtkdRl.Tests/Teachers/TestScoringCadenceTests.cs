using System.Text.Json;
using MtkdRl.Teachers;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Training;

namespace MtkdRl.Tests.Teachers;

/// <summary>Which epochs of a teacher's training score the test split (SupervisedTrainer.ScoresTestSplit).</summary>
public class TestScoringCadenceTests
{
    [Fact]
    public void A_test_split_small_against_an_epoch_is_scored_every_epoch()
    {
        // Full Fashion-MNIST at batch 128: 468 steps of 128 rows an epoch, 10,000 test rows.
        const long perEpoch = 468 * 128;
        for (int epoch = 1; epoch <= 8; epoch++)
            Assert.True(SupervisedTrainer.ScoresTestSplit(epoch, 8, (epoch - 1) * perEpoch, epoch * perEpoch, 10_000), $"epoch {epoch}");
    }

    [Fact]
    public void A_large_test_split_is_scored_within_a_quarter_of_the_training_rows_and_always_at_the_end()
    {
        // 1,000 training rows (7 batches of 128), 10,000 test rows, 343 epochs.
        const int epochs = 343, perEpoch = 7 * 128, test = 10_000;
        long seen = 0, scored = 0;
        var scoredEpochs = new List<int>();
        for (int epoch = 1; epoch <= epochs; epoch++)
        {
            seen += perEpoch;
            if (!SupervisedTrainer.ScoresTestSplit(epoch, epochs, seen - perEpoch, seen, test)) continue;
            scoredEpochs.Add(epoch);
            scored += test;
            if (epoch < epochs) Assert.True(scored <= 0.25 * seen, $"epoch {epoch}: {scored} test rows against {seen} trained");
        }
        Assert.Equal(epochs, scoredEpochs[^1]);
        // 0.25 x 896 = 224 test rows per epoch: the first score after epoch 45 (10,000 / 224 = 44.6), then every 44-45.
        Assert.Equal(45, scoredEpochs[0]);
        Assert.Equal(8, scoredEpochs.Count);
    }

    [Fact]
    public void A_resumed_run_scores_the_epochs_the_uninterrupted_one_does()
    {
        // 576 training rows an epoch against 200 test rows: the splits allowed after epochs 1-4 are 0, 1, 2, 2, so the
        // run scores epochs 2, 3 and 5 (the last). A run stopped after epoch 3 must not score epoch 4 when it resumes.
        using var temp = new TempFolder();
        var recipe = new TrainingRecipe { Spec = "mlp:16", Epochs = 5, BatchSize = 64, LearningRate = 0.05, Seed = 3 };
        var trainer = new SupervisedTrainer(TeacherTestData.Tiny, TrainingTestCompute.Shared);
        trainer.Train("t", recipe, temp.File("straight/t"), temp.File("straight/t.metrics.jsonl"));
        using var stop = new CancellationTokenSource();
        trainer.Train("t", recipe, temp.File("resumed/t"), temp.File("resumed/t.metrics.jsonl"), new StopAfterEpoch(stop, 3), stop.Token);
        trainer.Train("t", recipe, temp.File("resumed/t"), temp.File("resumed/t.metrics.jsonl"));
        static string[] Scores(string path) => [.. File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("test_acc").GetRawText()!)];
        var straight = Scores(temp.File("straight/t.metrics.jsonl"));
        Assert.Equal(new[] { "null", "null" }, new[] { straight[0], straight[3] });
        Assert.Equal(straight, Scores(temp.File("resumed/t.metrics.jsonl")));
    }

    /// <summary>Cancels after the given epoch (its checkpoint written): an interrupted run.</summary>
    private sealed class StopAfterEpoch(CancellationTokenSource source, int epoch) : ITrainingObserver
    {
        public void EpochStarted(string model, int e, int epochs, int batches) { }
        public void BatchDone(string model, int batch, double loss) { }
        public void EpochDone(EpochMetrics metrics) { if (metrics.Epoch == epoch) source.Cancel(); }
    }

    [Fact]
    public void An_unscored_epoch_writes_a_null_test_accuracy_and_the_last_epoch_is_always_scored()
    {
        // 600 training rows at batch 64 (9 steps, 576 rows an epoch) against 200 test rows: epoch 1 of 3 is not scored
        // (200 > 0.25 x 576 = 144), epoch 2 is (200 <= 0.25 x 1152 = 288), and the last always is.
        using var temp = new TempFolder();
        var recipe = new TrainingRecipe { Spec = "mlp:16", Epochs = 3, BatchSize = 64, LearningRate = 0.05, Seed = 3 };
        var trainer = new SupervisedTrainer(TeacherTestData.Tiny, TrainingTestCompute.Shared);
        var outcome = trainer.Train("t", recipe, temp.File("t"), temp.File("t.metrics.jsonl"));
        Assert.True(outcome.Completed);

        var lines = File.ReadAllLines(temp.File("t.metrics.jsonl"));
        Assert.Equal(3, lines.Length);
        var test = lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("test_acc")).ToList();
        Assert.Equal(JsonValueKind.Null, test[0].ValueKind);
        Assert.Equal(JsonValueKind.Number, test[1].ValueKind);
        Assert.Equal(JsonValueKind.Number, test[2].ValueKind);
        Assert.Equal(outcome.Checkpoint.TestAccuracy, test[2].GetDouble());
        Assert.Equal(outcome.Metrics[^1].TestAcc, outcome.Checkpoint.TestAccuracy);
    }
}
