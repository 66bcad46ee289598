using MtkdRl.Backends;
using MtkdRl.Data.Datasets;
using MtkdRl.Distillation;
using MtkdRl.Teachers;
using MtkdRl.Tests.Teachers;
using MtkdRl.Tests.Training;

namespace MtkdRl.Tests.Distillation;

/// <summary>A small cached pool on the tiny cut of the slice (600 train / 200 test): a weak linear teacher and a small MLP, trained briefly once for all distillation tests.</summary>
public sealed class DistillPoolFixture : IDisposable
{
    public DistillPoolFixture()
    {
        Root = Path.Combine(Path.GetTempPath(), "mtkd-distill-" + Guid.NewGuid().ToString("N"));
        Pool = Path.Combine(Root, "pool");
        Data = TeacherTestData.Tiny;
        TeacherPlan[] plans =
        [
            new("mlp", new TrainingRecipe { Spec = "mlp:32", Epochs = 2, BatchSize = 64, Seed = 3 }),
            new("linear", new TrainingRecipe { Spec = "linear", Epochs = 1, BatchSize = 64, Seed = 4 }),
        ];
        TeacherPool.Train(Pool, Data, plans, TrainingTestCompute.Shared);
        TeacherCache.Build(Pool, Data, false, TrainingTestCompute.Shared);
    }

    public string Root { get; }
    public string Pool { get; }
    public ImageDataset Data { get; }

    /// <summary>A trainer on this pool with the native backend.</summary>
    public DistillTrainer Trainer() => new(Data, Pool, TrainingTestCompute.Shared, BackendCatalog.Create("native"), "native");

    /// <summary>A small run: mlp:16 student, batches of 50, Adam at 3e-3, seed 5.</summary>
    public static DistillRecipe Recipe(string strategy, int epochs = 2) =>
        new() { Student = "mlp:16", Strategy = strategy, Epochs = epochs, BatchSize = 50, Optimizer = "adam", LearningRate = 3e-3, Seed = 5 };

    public string NewRunDir() => Path.Combine(Root, "run-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(Root)) Directory.Delete(Root, true);
    }
}
