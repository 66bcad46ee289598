using MtkdRl.Core;
using MtkdRl.Teachers;

namespace MtkdRl.Onnx;

/// <summary>
/// `teachers import --onnx` of a detector on a scenes folder: a detector from any framework as a teacher of a
/// detection pool. Its outputs are class logits (C+1 columns, background first) and the four box outputs of
/// docs/DETECTION.md's coding at every location of one output grid (<see cref="OnnxDetectionOutputs"/>); it is scored
/// on the test scenes (COCO AP, kept in pool.json as every detection teacher's) and copied into the pool;
/// `teachers cache` and live runs run it as they run a trained detector.
/// </summary>
public static class OnnxDetectionImport
{
    public static OnnxImportResult Import(string poolDir, string name, DetectionScenes scenes, OnnxImportOptions options)
    {
        var own = OnnxDetectionTeacher.ScenesNormalization(scenes);
        Data.Batching.ChannelNormalization? fed = null;
        string normalizationSource = "", embeddingSource = "", layout = "";
        var entry = DetectionPool.Import(poolDir, name, scenes, () =>
        {
            var model = OnnxTeacherModel.Open(options.ModelPath, options.Bindings, scenes.InputShape, scenes.ClassCount + 1, options.Threads, TaskKind.Detection);
            OnnxDetectionTeacher teacher;
            try
            {
                (fed, normalizationSource) = InputNormalization.Resolve(options.Normalize, options.Scale, model.Metadata, scenes.Channels, () => own);
                teacher = new OnnxDetectionTeacher(new OnnxLiveTeacher(model, fed, own), own);
            }
            catch
            {
                model.Dispose();
                throw;
            }
            using var _ = teacher;
            embeddingSource = model.EmbeddingSource;
            layout = teacher.Outputs.Layout;
            var test = DetectorInference.Run(teacher, scenes, scenes.Test, [.. own.Mean], [.. own.Std]);
            var kept = new OnnxTeacherFile($"{name}.onnx", model.InputName, model.LogitsName, model.EmbeddingName, [.. fed.Mean], [.. fed.Std],
                teacher.Outputs.BoxesName);
            return (new TeacherPool.ImportedNetwork(options.ModelPath, kept, OnnxTeacherImport.Spec), test.Summary.AP, model.EmbeddingWidth);
        });
        return new OnnxImportResult(entry, fed!, normalizationSource, embeddingSource) { Layout = layout };
    }
}
