using System.Numerics.Tensors;
using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>
/// A convolutional body with skip connections, shared by the U-Net (<see cref="SegmentationModel"/>) and the
/// encoder-decoder detector (det option u, <see cref="Detector"/>):
/// <code>
///   encoder  stage 1..n in order, each stage's output kept as its skip (stage n: the bottleneck)
///   decoder  per step: Upsample2x of the map so far - concat(upsampled, skip of one encoder stage) - the step's block
/// </code>
/// With no decoder step it is a plain stack of layers, the bottleneck its output. The layers' buffer rules hold:
/// outputs and gradients are reused from call to call.
/// </summary>
public sealed class EncoderDecoder
{
    /// <summary>One decoder step: upsample the deeper map, join it with the encoder's skip (upsampled channels first), convolve.</summary>
    public sealed record DecoderStage(Upsample2x Up, ChannelConcat Concat, IReadOnlyList<Layer> Block, int Skip);

    private readonly Layer[][] _encoder;
    private readonly DecoderStage[] _decoder;
    private readonly BatchBuffer<float>[] _gradSum;
    private readonly float[]?[] _skipGrad;
    private readonly float[][] _skips;
    private int _batch;

    public EncoderDecoder(IReadOnlyList<IReadOnlyList<Layer>> encoder, IReadOnlyList<DecoderStage> decoder)
    {
        if (encoder.Count == 0 || encoder.Any(s => s.Count == 0)) throw new ArgumentException("every encoder stage needs at least one layer", nameof(encoder));
        if (decoder.Any(d => d.Skip < 0 || d.Skip >= encoder.Count - 1 || d.Block.Count == 0))
            throw new ArgumentException("a decoder step joins an encoder stage before the bottleneck and convolves", nameof(decoder));
        _encoder = encoder.Select(s => s.ToArray()).ToArray();
        _decoder = [.. decoder];
        Layers = [.. _encoder.SelectMany(s => s), .. _decoder.SelectMany(d => d.Block.Prepend(d.Up))];
        _gradSum = _encoder.Select(s => new BatchBuffer<float>(s[^1].OutputShape.Size)).ToArray();
        _skipGrad = new float[]?[_encoder.Length];
        _skips = new float[_encoder.Length][];
    }

    public IReadOnlyList<IReadOnlyList<Layer>> Encoder => _encoder;

    public IReadOnlyList<DecoderStage> Decoder => _decoder;

    /// <summary>Every layer, encoder stages in order, then each decoder step's upsampling and block (the joins hold no tensors).</summary>
    public IReadOnlyList<Layer> Layers { get; }

    /// <summary>The last encoder stage's output shape.</summary>
    public SampleShape BottleneckShape => _encoder[^1][^1].OutputShape;

    /// <summary>The body's output shape: the last decoder block's, else the bottleneck's.</summary>
    public SampleShape OutputShape => _decoder.Length > 0 ? _decoder[^1].Block[^1].OutputShape : BottleneckShape;

    /// <summary>The bottleneck's activations [Batch, bottleneck] of the last <see cref="Forward"/>.</summary>
    public float[] Bottleneck => _skips[^1];

    /// <summary>Runs the body on <paramref name="a"/> [batch, input]; returns its output [batch, <see cref="OutputShape"/>].</summary>
    public float[] Forward(float[] a, int batch, bool training)
    {
        _batch = 0;
        for (int i = 0; i < _encoder.Length; i++)
        {
            foreach (var layer in _encoder[i]) a = layer.Forward(a, batch, training);
            _skips[i] = a;
        }
        foreach (var d in _decoder)
        {
            a = d.Up.Forward(a, batch, training);
            a = d.Concat.Forward(a, _skips[d.Skip], batch);
            foreach (var layer in d.Block) a = layer.Forward(a, batch, training);
        }
        _batch = batch;
        return a;
    }

    /// <summary>
    /// Back-propagates dL/d output of the last <see cref="Forward"/>, plus, when given, dL/d bottleneck (a head that
    /// reads the bottleneck, as the U-Net's embedding does), writing every parameter's gradient. Returns dL/d input
    /// when <paramref name="inputGradient"/> is set, else null (the first layer then skips it).
    /// </summary>
    public float[]? Backward(float[] g, float[]? bottleneckGradient, bool inputGradient)
    {
        if (_batch == 0) throw new InvalidOperationException("encoder-decoder body: Backward called before Forward");
        Array.Clear(_skipGrad);
        for (int j = _decoder.Length - 1; j >= 0; j--)
        {
            var d = _decoder[j];
            for (int i = d.Block.Count - 1; i >= 0; i--) g = d.Block[i].Backward(g)!;
            var (up, skip) = d.Concat.Backward(g);
            _skipGrad[d.Skip] = skip;
            g = d.Up.Backward(up)!;
        }
        if (bottleneckGradient is not null) g = Sum(_encoder.Length - 1, g, bottleneckGradient);
        for (int s = _encoder.Length - 1; s >= 0; s--)
        {
            if (s < _encoder.Length - 1 && _skipGrad[s] is { } skip) g = Sum(s, g, skip);
            var stage = _encoder[s];
            for (int i = stage.Length - 1; i >= 0; i--)
            {
                bool wantInput = s > 0 || i > 0 || inputGradient;
                var next = stage[i].Backward(g, wantInput);
                if (!wantInput) return null;
                g = next!;
            }
        }
        return g;
    }

    private float[] Sum(int stage, float[] a, float[] b)
    {
        int n = _batch * _encoder[stage][^1].OutputShape.Size;
        var sum = _gradSum[stage].Rows(_batch);
        TensorPrimitives.Add(a.AsSpan(0, n), b.AsSpan(0, n), sum.AsSpan(0, n));
        return sum;
    }
}
