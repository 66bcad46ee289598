using MtkdRl.Backends;
using MtkdRl.Data.Batching;
using MtkdRl.Distillation;
using MtkdRl.Teachers;
using MtkdRl.Tests.Distillation;
using MtkdRl.Tests.Training;

namespace MtkdRl.Tests.Onnx;

/// <summary>An ONNX teacher runs live: per batch through ONNX Runtime, agreeing with its cached outputs, and with augmentation.</summary>
[Collection("console")]
public sealed class OnnxLiveTeacherTests(OnnxPoolFixture fixture) : IClassFixture<OnnxPoolFixture>
{
    private string CachedPool()
    {
        lock (fixture)
        {
            if (!File.Exists(TeacherCache.PathOf(fixture.Pool, "train")))
                TeacherCache.Build(fixture.Pool, fixture.Data, false, TrainingTestCompute.Shared);
        }
        return fixture.Pool;
    }

    [Fact]
    public void Live_onnx_teachers_give_their_cached_outputs_whatever_their_normalisation()
    {
        string pool = CachedPool();
        var normalization = ChannelNormalization.FromTrainingSplit(fixture.Data.Train);
        using var cached = new CachedTeachers(pool, fixture.Data);
        using var live = new LiveTeachers(pool, fixture.Data, normalization, TrainingTestCompute.Shared);
        Assert.Equal(cached.Widths, live.Widths);
        Assert.Equal(cached.PoolFingerprint, live.PoolFingerprint);
        var loader = new BatchLoader(fixture.Data.Train, normalization, BatchLoaderOptions.Evaluation(64));
        var batch = loader.CreateBatch();
        Assert.True(loader.TryNext(batch));
        int n = batch.Count, f = live.Widths.Sum();
        var zt = new float[2][];
        var ft = new float[2][];
        for (int s = 0; s < 2; s++)
        {
            zt[s] = new float[live.K * n * live.Classes];
            ft[s] = new float[n * f];
        }
        cached.Fill(batch.Indices, batch.Images, n, zt[0], ft[0]);
        live.Fill(batch.Indices, batch.Images, n, zt[1], ft[1]);
        Assert.True(OnnxTestModels.RelativeError(zt[1], zt[0]) <= 1e-4);
        Assert.True(OnnxTestModels.RelativeError(ft[1], ft[0]) <= 1e-4);
    }

    [Fact]
    public void Distillation_with_augmentation_runs_the_onnx_teacher_live()
    {
        string pool = CachedPool();
        var trainer = new DistillTrainer(fixture.Data, pool, TrainingTestCompute.Shared, BackendCatalog.Create("native"), "native");
        string outDir = fixture.Folder.Sub("live-" + Guid.NewGuid().ToString("N")[..6]);
        var outcome = trainer.Run(DistillPoolFixture.Recipe("aver", epochs: 1) with { LiveTeachers = true, CropPadding = 2 }, outDir, resume: false);
        Assert.Equal(["cnn", "mlp", "cnn-onnx", "torch-cnn"], outcome.Summary.Teachers);
        Assert.True(outcome.Summary.FinalTestAcc > 0.2, $"accuracy {outcome.Summary.FinalTestAcc}");
    }
}
