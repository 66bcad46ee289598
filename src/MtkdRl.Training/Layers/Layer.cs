using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>
/// One step of a network, with forward and backward on batches of B samples stored row-major as
/// [B, <see cref="InputShape"/>]. The batch size may change from call to call (the last partial batch);
/// output and gradient arrays are owned by the layer, sized for the largest batch so far and reused, so
/// only their first B * size values are meaningful, and they stay valid until the layer's next call.
/// <para>
/// A layer keeps a reference to the input of its last Forward for Backward: the caller must leave that
/// array unchanged until Backward has run. Backward overwrites (never accumulates) the gradients of the
/// layer's parameters with those of the last Forward's batch.
/// </para>
/// </summary>
public abstract class Layer
{
    protected Layer(string name, SampleShape inputShape, SampleShape outputShape)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new MtkdInputException("layer name must not be empty");
        Name = name;
        InputShape = inputShape;
        OutputShape = outputShape;
    }

    public string Name { get; }

    public SampleShape InputShape { get; }

    public SampleShape OutputShape { get; }

    public virtual IReadOnlyList<Parameter> Parameters => [];

    /// <summary>Non-trainable state a checkpoint must keep (BatchNorm's running statistics).</summary>
    public virtual IReadOnlyList<NamedTensor> Buffers => [];

    /// <summary>Random streams a checkpoint must keep so a resumed run draws the same masks.</summary>
    public virtual IReadOnlyList<NamedRng> RandomStreams => [];

    /// <summary>Rows of the last Forward (0 before the first).</summary>
    public int Batch { get; private set; }

    /// <summary>Whether the last Forward ran in training mode.</summary>
    public bool Training { get; private set; }

    /// <summary>
    /// Runs the layer on rows [0, batch) of <paramref name="input"/>; returns an array whose first
    /// batch * OutputShape.Size values are the output. <paramref name="training"/> selects batch statistics
    /// and dropout masks (true) or running statistics and the identity (false).
    /// </summary>
    public float[] Forward(float[] input, int batch, bool training)
    {
        CpuCompute.CheckBatch(batch, Name);
        if (input.Length < (long)batch * InputShape.Size)
            throw new MtkdInputException(
                $"layer '{Name}': input holds {input.Length} values, a batch of {batch} x {InputShape} needs {(long)batch * InputShape.Size}");
        Batch = batch;
        Training = training;
        return ForwardCore(input, batch, training);
    }

    /// <summary>
    /// Back-propagates the gradient at the output of the last Forward: writes the parameter gradients and,
    /// when <paramref name="inputGradient"/>, returns the gradient at the input (first Batch * InputShape.Size
    /// values); otherwise returns null and skips that work.
    /// </summary>
    public float[]? Backward(float[] gradOutput, bool inputGradient = true)
    {
        if (Batch == 0) throw new InvalidOperationException($"layer '{Name}': Backward called before Forward");
        if (gradOutput.Length < (long)Batch * OutputShape.Size)
            throw new MtkdInputException(
                $"layer '{Name}': output gradient holds {gradOutput.Length} values, a batch of {Batch} x {OutputShape} needs {(long)Batch * OutputShape.Size}");
        return BackwardCore(gradOutput, inputGradient);
    }

    protected abstract float[] ForwardCore(float[] input, int batch, bool training);

    protected abstract float[]? BackwardCore(float[] gradOutput, bool inputGradient);

    public override string ToString() => $"{GetType().Name} {Name}: {InputShape} -> {OutputShape}";
}
