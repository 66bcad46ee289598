using System.Text.RegularExpressions;
using MtkdRl.Core;
using MtkdRl.Training;

namespace MtkdRl.Teachers;

/// <summary>
/// Initialises a segmentation or detection network from a trained classifier, as a pretrained backbone does:
/// block j of stage n of a cnn (conv{n} - bn{n} - ReLU, then conv{n}b - bn{n}b - ReLU with c2, ... - pool) becomes
/// block j of stage n of the network (a unet's or fcn's enc{n}_conv and enc{n}_bn, enc{n}b_conv, ...; a det's
/// conv{n} and bn{n}, conv{n}b, ...), weights and BatchNorm statistics both. The classifier's dense layers and head
/// are left out, as are its stages and blocks past the network's; the network's blocks past the classifier's (a c2
/// network from a c1 classifier), decoder and heads keep their random initialisation. A 3x3 convolution does not
/// depend on the image size, so a classifier of 28 x 28 images initialises a network of 64 x 64 canvases.
/// </summary>
public static partial class BackboneInit
{
    /// <summary>
    /// Copies the classifier at <paramref name="backbonePath"/> into <paramref name="target"/>; returns how many stages
    /// it copied. One-line errors (naming the checkpoint) for a file that is not a cnn with BatchNorm, a stage whose
    /// shape differs from the network's, or no stage in common.
    /// </summary>
    public static int Apply(IEnumerable<NamedTensor> target, string backbonePath, CpuCompute compute)
    {
        var loaded = Checkpoint.Load(backbonePath, compute);
        var spec = loaded.Model.Spec;
        string file = loaded.ConfigPath;
        if (spec.Family != ModelFamily.Cnn || !spec.BatchNorm)
            throw new MtkdInputException($"{file}: backbone {spec} is not a cnn with BatchNorm (its convolution stages are what initialise the network)");
        var byName = target.ToDictionary(t => t.Name);
        var stages = new SortedSet<int>();
        foreach (var source in loaded.Model.NamedTensors)
        {
            var match = StageTensor().Match(source.Name);
            if (!match.Success) continue;
            int stage = int.Parse(match.Groups["stage"].Value);
            string layer = match.Groups["layer"].Value, block = match.Groups["block"].Value, field = match.Groups["field"].Value;
            var into = Targets(layer, stage, block, field).Select(n => byName.GetValueOrDefault(n)).FirstOrDefault(t => t is not null);
            if (into is null) continue;
            if (!into.Shape.SequenceEqual(source.Shape))
                throw new MtkdInputException($"{file}: backbone tensor '{source.Name}' has shape [{string.Join(',', source.Shape)}], the network's '{into.Name}' [{string.Join(',', into.Shape)}] (widths and input channels must match stage by stage)");
            source.Value.AsSpan().CopyTo(into.Value);
            stages.Add(stage);
        }
        if (stages.Count == 0) throw new MtkdInputException($"{file}: backbone {spec} shares no convolution stage with the network");
        return stages.Count;
    }

    /// <summary>Where a cnn's stage tensor goes: a segmentation encoder's name, then a detector's (the cnn's own).</summary>
    private static IEnumerable<string> Targets(string layer, int stage, string block, string field)
    {
        yield return $"enc{stage}{block}_{layer}.{field}";
        yield return $"{layer}{stage}{block}.{field}";
    }

    [GeneratedRegex(@"^(?<layer>conv|bn)(?<stage>[0-9]+)(?<block>[b-d]?)\.(?<field>weight|bias|running_mean|running_var)$")]
    private static partial Regex StageTensor();
}
