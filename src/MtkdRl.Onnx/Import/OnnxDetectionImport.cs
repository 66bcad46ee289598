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
        return DenseOnnxImport.Import(name, options, scenes.InputShape, scenes.ClassCount + 1, TaskKind.Detection, own,
            run => DetectionPool.Import(poolDir, name, scenes, run),
            live => DetectorInference.Run(new OnnxDetectionTeacher(live, own), scenes, scenes.Test, [.. own.Mean], [.. own.Std]).Summary.AP);
    }
}
