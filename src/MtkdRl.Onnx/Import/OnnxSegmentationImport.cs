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
        var scenes = SceneInputs.Normalization(data.Train);
        return DenseOnnxImport.Import(name, options, OnnxSegmentationTeacher.Canvas(data), data.ClassCount + 1, Core.TaskKind.Segmentation, scenes,
            run => SegmentationPool.Import(poolDir, name, data, run),
            live => SegmentationEvaluator.Evaluate(new OnnxSegmentationTeacher(live, scenes), data.Test, scenes).MeanIoU);
    }
}
