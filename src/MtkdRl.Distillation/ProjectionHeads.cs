using MtkdRl.Core;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>
/// One linear adapter per teacher from the student's embedding [B, Ds] to that teacher's embedding width
/// D_k, written side by side into fs [B, F] (teacher k in columns [FeatureOffset[k], FeatureOffset[k] + D_k))
/// so feature distillation compares like with like whatever the widths. Backward takes dL/dfs [B, F] and
/// returns dL/d embedding [B, Ds], the sum over the heads.
/// </summary>
public sealed class ProjectionHeads
{
    private readonly Linear[] _heads;
    private readonly int[] _offsets;
    private float[] _input = [], _fs = [], _gradSlice = [], _gradEmbedding = [];
    private int _batch;

    public ProjectionHeads(int studentWidth, IReadOnlyList<int> teacherWidths, CpuCompute compute, Rng rng)
    {
        if (teacherWidths.Count == 0) throw new MtkdInputException("projection heads need at least one teacher");
        StudentWidth = studentWidth;
        Widths = [.. teacherWidths];
        _offsets = new int[Widths.Count + 1];
        _heads = new Linear[Widths.Count];
        for (int k = 0; k < Widths.Count; k++)
        {
            if (Widths[k] < 1) throw new MtkdInputException($"teacher {k}: embedding width {Widths[k]} must be at least 1");
            _offsets[k + 1] = _offsets[k] + Widths[k];
            _heads[k] = new Linear($"head{k}", SampleShape.Vector(studentWidth), Widths[k], compute);
            Initializers.KaimingNormal(_heads[k].Weight.Value, studentWidth, rng);
        }
        Parameters = _heads.SelectMany(h => h.Parameters).ToList();
    }

    public int StudentWidth { get; }

    /// <summary>D_k per teacher.</summary>
    public IReadOnlyList<int> Widths { get; }

    /// <summary>F = sum of D_k.</summary>
    public int F => _offsets[^1];

    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>fs [B, F] of the last Forward.</summary>
    public ReadOnlySpan<float> Output => _fs.AsSpan(0, _batch * F);

    /// <summary>Maps the student's embedding [B, Ds] to fs [B, F] (the embedding is copied).</summary>
    public void Forward(ReadOnlySpan<float> embedding, int batch, Span<float> fs)
    {
        int ds = StudentWidth, f = F;
        if (embedding.Length < batch * ds || fs.Length < batch * f)
            throw new ArgumentException($"heads forward of {batch} rows needs {batch * ds} embedding and {batch * f} output values");
        _batch = batch;
        Grow(ref _input, batch * ds);
        Grow(ref _fs, batch * f);
        embedding[..(batch * ds)].CopyTo(_input);
        for (int k = 0; k < _heads.Length; k++)
        {
            var y = _heads[k].Forward(_input, batch, training: true);
            int d = Widths[k], off = _offsets[k];
            for (int b = 0; b < batch; b++) y.AsSpan(b * d, d).CopyTo(fs.Slice(b * f + off, d));
        }
        fs[..(batch * f)].CopyTo(_fs);
    }

    /// <summary>From dL/dfs [B, F]: every head's parameter gradients, and dL/d embedding [B, Ds] (returned).</summary>
    public ReadOnlySpan<float> Backward(ReadOnlySpan<float> gradFs)
    {
        int batch = _batch, ds = StudentWidth, f = F;
        if (batch == 0) throw new InvalidOperationException("projection heads: Backward called before Forward");
        Grow(ref _gradEmbedding, batch * ds);
        var dx = _gradEmbedding.AsSpan(0, batch * ds);
        dx.Clear();
        for (int k = 0; k < _heads.Length; k++)
        {
            int d = Widths[k], off = _offsets[k];
            Grow(ref _gradSlice, batch * d);
            for (int b = 0; b < batch; b++) gradFs.Slice(b * f + off, d).CopyTo(_gradSlice.AsSpan(b * d, d));
            var g = _heads[k].Backward(_gradSlice, inputGradient: true)!;
            System.Numerics.Tensors.TensorPrimitives.Add(dx, g.AsSpan(0, batch * ds), dx);
        }
        return dx;
    }

    private static void Grow(ref float[] array, int length)
    {
        if (array.Length < length) array = new float[length];
    }
}
