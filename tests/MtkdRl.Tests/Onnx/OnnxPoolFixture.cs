using MtkdRl.Data.Datasets;
using MtkdRl.Onnx;
using MtkdRl.Teachers;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Teachers;
using MtkdRl.Tests.Training;

namespace MtkdRl.Tests.Onnx;

/// <summary>
/// A pool on the tiny cut of the slice (as an IDX folder for the CLI) with a trained cnn and an mlp, the cnn
/// exported to ONNX (cnn.onnx beside the pool), and that file imported back as the teacher "cnn-onnx"; also the
/// PyTorch CNN of tests/fixtures/onnx as "torch-cnn", fed pixel / 255 rather than the dataset's normalisation.
/// </summary>
public sealed class OnnxPoolFixture : IDisposable
{
    public OnnxPoolFixture()
    {
        Folder = new TempFolder();
        DataDir = TeacherTestData.WriteIdx(TeacherTestData.Tiny, Folder.Root);
        Data = DatasetLocator.Load(DataDir);
        Pool = Folder.Sub("pool");
        TeacherPlan[] plans =
        [
            new("cnn", new TrainingRecipe { Spec = "cnn:4,fc16", Epochs = 2, BatchSize = 50, Seed = 3 }),
            new("mlp", new TrainingRecipe { Spec = "mlp:16", Epochs = 1, BatchSize = 50, Seed = 4 }),
        ];
        TeacherPool.Train(Pool, Data, plans, TrainingTestCompute.Shared);
        Exported = Path.Combine(Folder.Root, "cnn.onnx");
        var cnn = Checkpoint.Load(Path.Combine(Pool, "cnn"), TrainingTestCompute.Shared);
        OnnxExporter.Write(Exported, cnn.Model, cnn.Normalization);
        OnnxTeacherImport.Import(Pool, "cnn-onnx", Data, new OnnxImportOptions(Exported, new OnnxBindings(), Threads: 2));
        string torch = Path.Combine(RepositoryPaths.Root, "tests", "fixtures", "onnx", "torch_cnn.onnx");
        OnnxTeacherImport.Import(Pool, "torch-cnn", Data, new OnnxImportOptions(torch, new OnnxBindings(), Scale: "0-1", Threads: 2));
    }

    public TempFolder Folder { get; }
    public string DataDir { get; }
    public ImageDataset Data { get; }
    public string Pool { get; }
    public string Exported { get; }

    public void Dispose() => Folder.Dispose();
}
