using MtkdRl.Core;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Datasets;
using MtkdRl.Data.Formats;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>How to run an ONNX teacher over a pool's dataset.</summary>
/// <param name="Normalize">"mean,std" or per-channel means then stds (pixel / 255 units); null: see <see cref="InputNormalization"/>.</param>
/// <param name="Scale">"0-1": pixel / 255.</param>
/// <param name="FlipTest">A segmentation teacher that answers with the flip test, in its score, the cache and live runs.</param>
public sealed record OnnxImportOptions(string ModelPath, OnnxBindings Bindings, string? Normalize = null, string? Scale = null,
    int Threads = 0, int BatchSize = Evaluator.DefaultBatchSize, bool FlipTest = false);

/// <summary>An ONNX teacher in the pool, the input normalisation it was fed (with where that came from), and where its embedding came from.</summary>
public sealed record OnnxImportResult(PoolTeacher Entry, ChannelNormalization Normalization, string NormalizationSource, string EmbeddingSource)
{
    /// <summary>A detector's grid and output layouts, in words (null for other tasks).</summary>
    public string? Layout { get; init; }
}

/// <summary>
/// `teachers import --onnx`: runs an ONNX model through ONNX Runtime over both splits of the pool's dataset in
/// dataset order, checks its shapes against the pool, and stores its outputs as every imported teacher's are
/// (float32 NPY, listed in pool.json with the test accuracy), with the model file kept beside them for live runs.
/// </summary>
public static class OnnxTeacherImport
{
    public const string Spec = "onnx";

    /// <param name="progress">Called after each batch with (split, rows done, rows of the split).</param>
    public static OnnxImportResult Import(string poolDir, string name, ImageDataset data, OnnxImportOptions options,
        Action<string, int, int>? progress = null)
    {
        if (options.BatchSize < 1) throw new MtkdInputException($"batch size must be positive (got {options.BatchSize})");
        ChannelNormalization? normalization = null;
        string source = "", embeddingSource = "";
        var entry = TeacherPool.Import(poolDir, name, data, manifest =>
        {
            var sample = new SampleShape(manifest.InputShape[0], manifest.InputShape[1], manifest.InputShape[2]);
            using var model = OnnxTeacherModel.Open(options.ModelPath, options.Bindings, sample, manifest.Classes, options.Threads);
            embeddingSource = model.EmbeddingSource;
            (normalization, source) = InputNormalization.Resolve(options.Normalize, options.Scale, model.Metadata, sample.Channels,
                () => ChannelNormalization.FromTrainingSplit(data.Train));
            var (trainLogits, trainEmbeddings) = Run(model, data.Train, "train", normalization, options.BatchSize, progress);
            var (testLogits, testEmbeddings) = Run(model, data.Test, "test", normalization, options.BatchSize, progress);
            var kept = new OnnxTeacherFile($"{name}.onnx", model.InputName, model.LogitsName, model.EmbeddingName,
                [.. normalization.Mean], [.. normalization.Std]);
            return new TeacherPool.TeacherOutputs(trainLogits, trainEmbeddings, testLogits, testEmbeddings,
                new TeacherPool.ImportedNetwork(options.ModelPath, kept, Spec));
        });
        return new OnnxImportResult(entry, normalization!, source, embeddingSource);
    }

    /// <summary>The model's outputs over <paramref name="split"/> in dataset order: logits [N, C] and embeddings [N, D].</summary>
    public static (FloatMatrix Logits, FloatMatrix Embeddings) Run(OnnxTeacherModel model, LabeledImages split, string splitName,
        ChannelNormalization normalization, int batchSize, Action<string, int, int>? progress = null)
    {
        int batch = model.FixedBatch > 0 ? model.FixedBatch : batchSize;
        var loader = new BatchLoader(split, normalization, BatchLoaderOptions.Evaluation(batch));
        var images = loader.CreateBatch();
        int C = model.Classes, D = model.EmbeddingWidth, done = 0;
        var logits = new float[(long)split.Count * C];
        var embeddings = new float[(long)split.Count * D];
        while (loader.TryNext(images))
        {
            int n = images.Count;
            model.Run(images.Images, n, logits.AsSpan(done * C, n * C), embeddings.AsSpan(done * D, n * D), splitName, done);
            done += n;
            progress?.Invoke(splitName, done, split.Count);
        }
        string source = $"{model.Path} ({splitName} split)";
        return (new FloatMatrix(logits, split.Count, C, source), new FloatMatrix(embeddings, split.Count, D, source));
    }
}
