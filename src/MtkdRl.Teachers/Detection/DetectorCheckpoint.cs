using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Training;

namespace MtkdRl.Teachers;

/// <summary>A detector read back from its checkpoint, with its config and, when saved, its optimiser's state.</summary>
public sealed record LoadedDetector(string ConfigPath, CheckpointConfig Config, Detector Detector, OptimizerState? OptimizerState);

/// <summary>
/// A detector's checkpoint: NAME.safetensors (its tensors, then the optimiser's under "optimizer.") and NAME.json
/// (a <see cref="CheckpointConfig"/> with task "detection" and classes = C, the object classes), the same pair a
/// classifier's checkpoint is, so the pool lists both alike; a classifier's loader refuses it by its task.
/// </summary>
public static class DetectorCheckpoint
{
    public static CheckpointConfig Save(string basePath, Detector detector, CheckpointConfig config, Optimizer? optimizer = null)
    {
        basePath = Checkpoint.BasePath(basePath);
        var builder = new SafeTensors.Builder();
        builder.Metadata["format"] = "mtkd-checkpoint";
        builder.Metadata["spec"] = detector.Spec.ToString();
        builder.Metadata["task"] = TaskKind.Detection.Name();
        foreach (var t in detector.NamedTensors) builder.Add(t.Name, t.Value, [.. t.Shape]);
        OptimizerRecord? record = null;
        if (optimizer is not null)
        {
            var state = optimizer.ExportState();
            foreach (var t in state.Tensors) builder.Add(Checkpoint.OptimizerPrefix + t.Name, t.Value, [.. t.Shape]);
            record = new OptimizerRecord(state.Kind, state.Scalars);
        }
        string weightsPath = basePath + Checkpoint.WeightsExtension;
        string hash = Checkpoint.WriteTensors(builder, weightsPath);
        var written = config with
        {
            FormatVersion = CheckpointConfig.CurrentFormat,
            Spec = detector.Spec.ToString(),
            Task = TaskKind.Detection.Name(),
            InputShape = [detector.InputShape.Channels, detector.InputShape.Height, detector.InputShape.Width],
            Classes = detector.Classes,
            Optimizer = record ?? config.Optimizer,
            WeightsFile = Path.GetFileName(weightsPath),
            WeightsSha256 = hash,
        };
        JsonFiles.Write(basePath + Checkpoint.ConfigExtension, written);
        return written;
    }

    public static LoadedDetector Load(string path, CpuCompute compute)
    {
        string configPath = Checkpoint.ConfigPathOf(path);
        var config = Checkpoint.ReadConfig(configPath);
        TaskKinds.Require(TaskKind.Detection, TaskKinds.Parse(config.Task, configPath), configPath);
        var spec = ModelSpec.Parse(config.Spec, $"{configPath}: model");
        var input = new SampleShape(config.InputShape[0], config.InputShape[1], config.InputShape[2]);
        var detector = spec.BuildDetector(input, config.Classes, compute, new Rng(1));
        var optimizerTensors = Checkpoint.ReadTensors(configPath, config, detector.NamedTensors, $"detector {spec}");
        var optimizer = config.Optimizer is null ? null : new OptimizerState(config.Optimizer.Kind, optimizerTensors, config.Optimizer.Scalars);
        return new LoadedDetector(configPath, config, detector, optimizer);
    }
}
