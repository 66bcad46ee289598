using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>
/// Joins two feature maps of the same height and width along the channels (a skip connection):
/// a [B, Ca, H, W] and b [B, Cb, H, W] -> [B, Ca + Cb, H, W], a's channels first. Backward splits the output
/// gradient back into da and db. It has two inputs, so it is not a <see cref="Layer"/>; it follows the same
/// buffer rules (outputs owned, sized for the largest batch, valid until the next call).
/// </summary>
public sealed class ChannelConcat
{
    private readonly BatchBuffer<float> _output, _gradA, _gradB;
    private int _batch;

    public ChannelConcat(string name, SampleShape a, SampleShape b)
    {
        if (a.Height != b.Height || a.Width != b.Width)
            throw new MtkdInputException($"concat '{name}': {a} and {b} differ in height or width");
        Name = name;
        ShapeA = a;
        ShapeB = b;
        OutputShape = SampleShape.Image(a.Channels + b.Channels, a.Height, a.Width);
        _output = new BatchBuffer<float>(OutputShape.Size);
        _gradA = new BatchBuffer<float>(a.Size);
        _gradB = new BatchBuffer<float>(b.Size);
    }

    public string Name { get; }
    public SampleShape ShapeA { get; }
    public SampleShape ShapeB { get; }
    public SampleShape OutputShape { get; }

    public float[] Forward(float[] a, float[] b, int batch)
    {
        CpuCompute.CheckBatch(batch, Name);
        int sa = ShapeA.Size, sb = ShapeB.Size, so = OutputShape.Size;
        if (a.Length < (long)batch * sa || b.Length < (long)batch * sb)
            throw new MtkdInputException($"concat '{Name}': inputs hold {a.Length} and {b.Length} values, a batch of {batch} needs {(long)batch * sa} and {(long)batch * sb}");
        var y = _output.Rows(batch);
        for (int s = 0; s < batch; s++)
        {
            a.AsSpan(s * sa, sa).CopyTo(y.AsSpan(s * so, sa));
            b.AsSpan(s * sb, sb).CopyTo(y.AsSpan(s * so + sa, sb));
        }
        _batch = batch;
        return y;
    }

    /// <summary>Splits dy [B, Ca + Cb, H, W] of the last Forward into (da, db).</summary>
    public (float[] GradA, float[] GradB) Backward(float[] gradOutput)
    {
        if (_batch == 0) throw new InvalidOperationException($"concat '{Name}': Backward called before Forward");
        int sa = ShapeA.Size, sb = ShapeB.Size, so = OutputShape.Size;
        if (gradOutput.Length < (long)_batch * so)
            throw new MtkdInputException($"concat '{Name}': output gradient holds {gradOutput.Length} values, a batch of {_batch} needs {(long)_batch * so}");
        var da = _gradA.Rows(_batch);
        var db = _gradB.Rows(_batch);
        for (int s = 0; s < _batch; s++)
        {
            gradOutput.AsSpan(s * so, sa).CopyTo(da.AsSpan(s * sa, sa));
            gradOutput.AsSpan(s * so + sa, sb).CopyTo(db.AsSpan(s * sb, sb));
        }
        return (da, db);
    }
}
