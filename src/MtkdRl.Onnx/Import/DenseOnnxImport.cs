using MtkdRl.Core;
using MtkdRl.Data.Batching;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>
/// What `teachers import --onnx` does alike for a segmentation and a detection pool: open the model for the task,
/// resolve the normalisation it is fed (<see cref="InputNormalization"/>, the scenes' own by default), run it as a live
/// teacher on batches normalised as the scenes' networks see them, have the task score it on the test split, and keep
/// the model file and its tensors' names in the pool's entry.
/// </summary>
internal static class DenseOnnxImport
{
    /// <param name="addToPool">The pool's import (<see cref="ImportedNetworks.Add"/> through the task's pool), given the run that checks and scores the model.</param>
    /// <param name="score">The test score (mIoU, AP) of the model run as a live teacher.</param>
    public static OnnxImportResult Import(string name, OnnxImportOptions options, SampleShape canvas, int classes, TaskKind task, ChannelNormalization scenes,
        Func<Func<(TeacherPool.ImportedNetwork, double, int)>, PoolTeacher> addToPool, Func<OnnxLiveTeacher, double> score)
    {
        ChannelNormalization? fed = null;
        string normalizationSource = "", embeddingSource = "";
        string? layout = null;
        var entry = addToPool(() =>
        {
            var model = OnnxTeacherModel.Open(options.ModelPath, options.Bindings, canvas, classes, options.Threads, task);
            OnnxLiveTeacher live;
            try
            {
                (fed, normalizationSource) = InputNormalization.Resolve(options.Normalize, options.Scale, model.Metadata, canvas.Channels, () => scenes);
                live = new OnnxLiveTeacher(model, fed, scenes);
            }
            catch
            {
                model.Dispose();
                throw;
            }
            using var _ = live;
            embeddingSource = model.EmbeddingSource;
            layout = model.Detection?.Layout;
            double test = score(live);
            var kept = new OnnxTeacherFile($"{name}.onnx", model.InputName, model.LogitsName, model.EmbeddingName, [.. fed.Mean], [.. fed.Std],
                model.Detection?.BoxesName);
            return (new TeacherPool.ImportedNetwork(options.ModelPath, kept, OnnxTeacherImport.Spec), test, model.EmbeddingWidth);
        });
        return new OnnxImportResult(entry, fed!, normalizationSource, embeddingSource) { Layout = layout };
    }
}
