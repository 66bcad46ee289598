using MtkdRl.Data.Scenes;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>
/// `teachers import --onnx` on a scenes folder: a segmentation network from any framework as a teacher of a
/// segmentation pool. Its logits are maps [N, C+1, H, W] on the canvas (background in channel 0, then the scenes'
/// classes in order); it is scored on the test canvases (mIoU, kept in pool.json as every segmentation teacher's) and
/// copied into the pool; `teachers cache` and live runs run it as they run a trained teacher.
/// </summary>
public static class OnnxSegmentationImport
{
    public static OnnxImportResult Import(string poolDir, string name, SceneDataset data, OnnxImportOptions options)
    {
        var canvas = OnnxSegmentationTeacher.Canvas(data);
        int classes = data.ClassCount + 1;
        var scenes = SceneInputs.Normalization(data.Train);
        Data.Batching.ChannelNormalization? fed = null;
        string normalizationSource = "", embeddingSource = "";
        var entry = SegmentationPool.Import(poolDir, name, data, () =>
        {
            var model = OnnxTeacherModel.Open(options.ModelPath, options.Bindings, canvas, classes, options.Threads, Core.TaskKind.Segmentation);
            OnnxSegmentationTeacher teacher;
            try
            {
                teacher = new OnnxSegmentationTeacher(new OnnxLiveTeacher(model, Resolve(model), scenes), scenes);
            }
            catch
            {
                model.Dispose();
                throw;
            }
            using var _ = teacher;
            embeddingSource = model.EmbeddingSource;
            var test = SegmentationEvaluator.Evaluate(teacher, data.Test, scenes);
            var kept = new OnnxTeacherFile($"{name}.onnx", model.InputName, model.LogitsName, model.EmbeddingName, [.. fed!.Mean], [.. fed.Std]);
            return (new TeacherPool.ImportedNetwork(options.ModelPath, kept, OnnxTeacherImport.Spec), test.MeanIoU, model.EmbeddingWidth);
        });
        return new OnnxImportResult(entry, fed!, normalizationSource, embeddingSource);

        Data.Batching.ChannelNormalization Resolve(OnnxTeacherModel model)
        {
            (fed, normalizationSource) = InputNormalization.Resolve(options.Normalize, options.Scale, model.Metadata, canvas.Channels, () => scenes);
            return fed;
        }
    }
}
