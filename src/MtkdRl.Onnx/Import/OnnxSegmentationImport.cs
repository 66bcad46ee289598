using MtkdRl.Data.Scenes;
using MtkdRl.Teachers;
using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>
/// `teachers import --onnx` on a scenes folder: a segmentation network from any framework as a teacher of a
/// segmentation pool. Its logits are maps [N, C+1, H, W] on the canvas (background in channel 0, then the scenes'
/// classes in order); it is scored on the test canvases (mIoU, kept in pool.json as every segmentation teacher's) and
/// copied into the pool; `teachers cache` and live runs run it as they run a trained teacher. With the options'
/// flip test, it answers with the flip test (<see cref="FlipTestTeacher"/>) in its score, the cache and live runs.
/// </summary>
public static class OnnxSegmentationImport
{
    public static OnnxImportResult Import(string poolDir, string name, SceneDataset data, OnnxImportOptions options)
    {
        if (options.FlipTest && !data.Descriptor.MirrorInvariant)
            throw new Core.MtkdInputException($"{SceneFiles.Descriptor(data.Source)}: the scenes' classes are not mirror-invariant (mirror_invariant false), so --flip-test would average a canvas with a different one");
        var scenes = SceneInputs.Normalization(data.Train);
        return DenseOnnxImport.Import(name, options, OnnxSegmentationTeacher.Canvas(data), data.ClassCount + 1, Core.TaskKind.Segmentation, scenes,
            run => SegmentationPool.Import(poolDir, name, data, run, options.FlipTest),
            live => SegmentationEvaluator.Evaluate(new OnnxSegmentationTeacher(live, scenes), data.Test, scenes, flip: options.FlipTest).MeanIoU);
    }
}
