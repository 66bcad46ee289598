using MtkdRl.Core;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Datasets;
using MtkdRl.Onnx;
using MtkdRl.Teachers;
using MtkdRl.Tests.Training;
using MtkdRl.Training;

namespace MtkdRl.Tests.Onnx;

/// <summary>Models with every tensor random (BatchNorm running statistics too, so eval mode is not the identity), and their outputs through mtkd and through ONNX Runtime.</summary>
public static class OnnxTestModels
{
    public static Model Random(string spec, SampleShape input, int classes, int seed)
    {
        var model = ModelSpec.Parse(spec).Build(input, classes, TrainingTestCompute.Shared, new Rng((ulong)seed));
        Randomize(model, seed);
        return model;
    }

    /// <summary>Every tensor drawn afresh: weights and biases around 0, BatchNorm scales and running variances positive.</summary>
    public static void Randomize(Model model, int seed) => Randomize(model.NamedTensors, seed);

    /// <summary>The same for any network's tensors (segmentation models, detectors); a BatchNorm's name holds "bn".</summary>
    public static void Randomize(IEnumerable<NamedTensor> tensors, int seed)
    {
        var random = new Random(seed);
        foreach (var t in tensors)
        {
            bool positive = t.Name.EndsWith("running_var", StringComparison.Ordinal) || (t.Name.Contains("bn", StringComparison.Ordinal) && t.Name.EndsWith("weight", StringComparison.Ordinal));
            double spread = t.Shape.Count > 1 ? Math.Sqrt(2.0 / t.Shape.Skip(1).Aggregate(1, (a, d) => a * d)) : 0.3;
            for (int i = 0; i < t.Value.Length; i++)
                t.Value[i] = positive ? (float)(0.5 + random.NextDouble()) : (float)(random.NextGaussian() * spread);
        }
    }

    /// <summary>mtkd's eval-mode logits and embeddings over a split, in dataset order.</summary>
    public static (float[] Logits, float[] Embeddings) Mtkd(Model model, LabeledImages split, ChannelNormalization normalization)
    {
        var logits = new List<float>();
        var embeddings = new List<float>();
        Evaluator.Run(model, split, normalization, "model", 256, (_, _, l, e) =>
        {
            logits.AddRange(l.ToArray());
            embeddings.AddRange(e.ToArray());
        });
        return ([.. logits], [.. embeddings]);
    }

    /// <summary>The same through ONNX Runtime from the file at <paramref name="path"/>.</summary>
    public static (float[] Logits, float[] Embeddings) Runtime(string path, Model model, LabeledImages split, ChannelNormalization normalization, int batch = 256)
    {
        using var onnx = OnnxTeacherModel.Open(path, new OnnxBindings(), model.InputShape, model.Classes, threads: 2);
        var (logits, embeddings) = OnnxTeacherImport.Run(onnx, split, "test", normalization, batch);
        return (logits.Values, embeddings.Values);
    }

    /// <summary>max |got - want| / max |want| (float64), the tolerance measure of every agreement test.</summary>
    public static double RelativeError(ReadOnlySpan<float> got, ReadOnlySpan<float> want) => OnnxAgreement.RelativeError(got, want);
}
