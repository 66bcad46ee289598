using MtkdRl.Core;
using MtkdRl.Teachers;

namespace MtkdRl.Onnx;

/// <summary>
/// Which dense task an ONNX model imported on a scenes folder joins (a scenes folder serves segmentation and
/// detection alike): the task of the pool when it exists; else the task a model mtkd exported declares; else
/// detection when a box output is named (--boxes) or one is called <c>boxes</c>; else segmentation.
/// </summary>
public static class OnnxTaskProbe
{
    public static TaskKind OnScenes(string poolDir, string modelPath, OnnxBindings bindings)
    {
        if (PoolManifest.Exists(poolDir))
        {
            var task = TaskKinds.Parse(PoolManifest.Read(poolDir, expected: null).Task, PoolManifest.PathIn(poolDir));
            if (task == TaskKind.Classification)
                throw new MtkdInputException($"{PoolManifest.PathIn(poolDir)}: a classification pool; a scenes folder's teachers go into a segmentation or detection pool");
            return task;
        }
        if (bindings.Boxes is not null) return TaskKind.Detection;
        if (!File.Exists(modelPath)) throw new MtkdInputException($"{modelPath}: no such file");
        using var session = OnnxTeacherModel.Load(modelPath, threads: 1, edited: null);
        if (session.ModelMetadata.CustomMetadataMap.TryGetValue(OnnxExporter.TaskKey, out string? declared))
        {
            var task = TaskKinds.Parse(declared, modelPath);
            return task == TaskKind.Classification ? TaskKind.Segmentation : task;  // a classifier is refused by the segmentation import, in its words
        }
        return session.OutputMetadata.ContainsKey(OnnxExporter.BoxesName) ? TaskKind.Detection : TaskKind.Segmentation;
    }
}
