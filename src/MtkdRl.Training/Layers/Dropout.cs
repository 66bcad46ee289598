using System.Numerics.Tensors;
using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>
/// Inverted dropout: in training each value is zeroed with probability p and the survivors are scaled by
/// 1/(1-p), so eval (the identity) needs no rescaling. The mask comes from the layer's own
/// <see cref="Rng"/> (exposed in <see cref="RandomStreams"/>), drawn in storage order with 32 random bits
/// per value: the same state and batch always give the same mask, so a resumed run repeats it exactly.
/// </summary>
public sealed class Dropout : Layer
{
    private readonly BatchBuffer<float> _output, _gradInput, _mask;
    private readonly ulong _dropBelow;
    private readonly float _keepScale;

    public Dropout(string name, SampleShape shape, double probability, Rng rng) : base(name, shape, shape)
    {
        if (!(probability is >= 0 and < 1))
            throw new MtkdInputException($"layer '{name}': dropout probability must be in [0, 1) (got {probability})");
        Probability = probability;
        Rng = rng;
        RandomStreams = [new NamedRng($"{name}.rng", rng)];
        _dropBelow = (ulong)Math.Round(probability * 4294967296.0);
        _keepScale = (float)(1.0 / (1.0 - probability));
        _output = new BatchBuffer<float>(shape.Size);
        _gradInput = new BatchBuffer<float>(shape.Size);
        _mask = new BatchBuffer<float>(shape.Size);
    }

    public double Probability { get; }
    public Rng Rng { get; }
    public override IReadOnlyList<NamedRng> RandomStreams { get; }

    private bool Active => Training && Probability > 0;

    protected override float[] ForwardCore(float[] input, int batch, bool training)
    {
        if (!(training && Probability > 0)) return input;
        int n = batch * InputShape.Size;
        var mask = _mask.Rows(batch);
        for (int i = 0; i < n; i += 2)
        {
            ulong bits = Rng.NextUInt64();
            mask[i] = (bits & 0xFFFFFFFFUL) < _dropBelow ? 0f : _keepScale;
            if (i + 1 < n) mask[i + 1] = (bits >> 32) < _dropBelow ? 0f : _keepScale;
        }
        var y = _output.Rows(batch);
        TensorPrimitives.Multiply(input.AsSpan(0, n), mask.AsSpan(0, n), y.AsSpan(0, n));
        return y;
    }

    protected override float[]? BackwardCore(float[] gradOutput, bool inputGradient)
    {
        if (!inputGradient) return null;
        if (!Active) return gradOutput;
        int n = Batch * InputShape.Size;
        var dx = _gradInput.Rows(Batch);
        TensorPrimitives.Multiply(gradOutput.AsSpan(0, n), _mask.Current.AsSpan(0, n), dx.AsSpan(0, n));
        return dx;
    }
}
