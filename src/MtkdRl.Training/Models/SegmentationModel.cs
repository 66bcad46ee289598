using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>
/// A dense-prediction network: per-pixel logits [B, C+1, H, W] (channel-major, at the input's height and
/// width) and a per-image embedding [B, D], the bottleneck's channel means, for feature distillation.
/// <code>
///   encoder  stage 1..n: [MaxPool2x2 from stage 2 on] - Conv3x3 - BatchNorm2d - ReLU     (stage n: the bottleneck)
///   decoder  per skip, deepest first (unet only): Upsample2x - concat(upsampled, skip) - Conv3x3 - BatchNorm2d - ReLU
///   head     Conv1x1 to C+1 logits, then (fcn only) Upsample2x back to the input resolution
///   embedding GlobalAvgPool of the bottleneck
/// </code>
/// Same buffer rules as <see cref="Model"/>: outputs reused from call to call, gradients overwritten by each
/// Backward, the input copied so the caller may reuse its array.
/// </summary>
public sealed class SegmentationModel : ISegmentationNetwork
{
    private readonly EncoderDecoder _body;
    private readonly Layer[] _head;
    private readonly GlobalAvgPool _pool;
    private readonly BatchBuffer<float> _input, _gradLogits;
    private float[] _logits = [], _embedding = [];
    private float[]? _inputGradient;
    private int _batch;

    internal SegmentationModel(ModelSpec spec, SampleShape input, int classes, IReadOnlyList<IReadOnlyList<Layer>> encoder,
        IReadOnlyList<EncoderDecoder.DecoderStage> decoder, IReadOnlyList<Layer> head, CpuCompute compute)
    {
        Spec = spec;
        InputShape = input;
        Classes = classes;
        _body = new EncoderDecoder(encoder, decoder);
        _head = [.. head];
        var bottleneck = _body.BottleneckShape;
        _pool = new GlobalAvgPool("embedding_pool", bottleneck, compute);
        EmbeddingWidth = bottleneck.Channels;
        var output = _head[^1].OutputShape;
        if (output.Channels != classes || output.Height != input.Height || output.Width != input.Width)
            throw new InvalidOperationException($"model '{spec}': head gives {output}, expected {classes}x{input.Height}x{input.Width}");
        Layers = [.. _body.Layers, .. _head, _pool];
        Parameters = Layers.SelectMany(l => l.Parameters).ToList();
        Buffers = Layers.SelectMany(l => l.Buffers).ToList();
        var duplicate = Parameters.Select(p => p.Name).Concat(Buffers.Select(b => b.Name)).GroupBy(n => n).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new MtkdInputException($"model '{spec}': two tensors are named '{duplicate.Key}'");
        _input = new BatchBuffer<float>(input.Size);
        _gradLogits = new BatchBuffer<float>(classes * input.Plane);
    }

    public ModelSpec Spec { get; }

    public SampleShape InputShape { get; }

    /// <summary>Logit channels per pixel: the C object classes plus background.</summary>
    public int Classes { get; }

    /// <summary>Pixels per image of the logits (the input's H*W).</summary>
    public int Pixels => InputShape.Plane;

    /// <summary>D: the bottleneck's channels, the width of the per-image embedding.</summary>
    public int EmbeddingWidth { get; }

    /// <summary>The encoder and (unet) decoder with their skips.</summary>
    public EncoderDecoder Body => _body;

    public IReadOnlyList<IReadOnlyList<Layer>> Encoder => _body.Encoder;

    public IReadOnlyList<EncoderDecoder.DecoderStage> Decoder => _body.Decoder;

    /// <summary>The 1x1 classifier and, for fcn, the upsampling back to the input resolution.</summary>
    public IReadOnlyList<Layer> Head => _head;

    /// <summary>Every layer with parameters or buffers, input to output, then the embedding pool.</summary>
    public IReadOnlyList<Layer> Layers { get; }

    public IReadOnlyList<Parameter> Parameters { get; }

    public IReadOnlyList<NamedTensor> Buffers { get; }

    public IEnumerable<NamedTensor> NamedTensors => Parameters.Concat(Buffers);

    public long ParameterCount => Parameters.Sum(p => (long)p.Size);

    public int Batch => _batch;

    /// <summary>Logits [Batch, C+1, H, W] of the last Forward.</summary>
    public ReadOnlySpan<float> Logits => _logits.AsSpan(0, _batch * Classes * Pixels);

    /// <summary>Embedding [Batch, D] of the last Forward.</summary>
    public ReadOnlySpan<float> Embedding => _embedding.AsSpan(0, _batch * EmbeddingWidth);

    /// <summary>dL/dx of the last Backward that asked for it (empty otherwise).</summary>
    public ReadOnlySpan<float> InputGradient => _inputGradient is null ? default : _inputGradient.AsSpan(0, _batch * InputShape.Size);

    public void Infer(ReadOnlySpan<float> x, int images) => Forward(x, images, training: false);

    public void Forward(ReadOnlySpan<float> x, int batch, bool training)
    {
        if (batch <= 0) throw new MtkdInputException($"model '{Spec}': batch size must be positive (got {batch})");
        long needed = (long)batch * InputShape.Size;
        if (x.Length != needed)
            throw new MtkdInputException($"model '{Spec}': input holds {x.Length} values, a batch of {batch} images of {InputShape} needs {needed}");
        var a = _input.Rows(batch);
        x.CopyTo(a);
        _batch = 0;
        _inputGradient = null;
        a = _body.Forward(a, batch, training);
        _embedding = _pool.Forward(_body.Bottleneck, batch, training);
        foreach (var layer in _head) a = layer.Forward(a, batch, training);
        _logits = a;
        _batch = batch;
    }

    /// <summary>
    /// Back-propagates dL/dlogits [Batch, C+1, H, W] plus, when not empty, dL/dembedding [Batch, D], writing
    /// every parameter's gradient; with <paramref name="inputGradient"/> also <see cref="InputGradient"/>.
    /// </summary>
    public void Backward(ReadOnlySpan<float> gradLogits, ReadOnlySpan<float> gradEmbedding = default, bool inputGradient = false)
    {
        if (_batch == 0) throw new InvalidOperationException($"model '{Spec}': Backward called before Forward");
        int B = _batch;
        if (gradLogits.Length != B * Classes * Pixels)
            throw new MtkdInputException($"model '{Spec}': logit gradient holds {gradLogits.Length} values, expected {B} x {Classes} x {Pixels}");
        if (!gradEmbedding.IsEmpty && gradEmbedding.Length != B * EmbeddingWidth)
            throw new MtkdInputException($"model '{Spec}': embedding gradient holds {gradEmbedding.Length} values, expected {B} x {EmbeddingWidth}");
        var g = _gradLogits.Rows(B);
        gradLogits.CopyTo(g);
        for (int i = _head.Length - 1; i >= 0; i--) g = _head[i].Backward(g)!;
        var pooled = gradEmbedding.IsEmpty ? null : _pool.Backward(gradEmbedding.ToArray())!;
        _inputGradient = _body.Backward(g, pooled, inputGradient);
    }

    /// <summary>Per-pixel class decisions [Batch, H, W]: the argmax over the C+1 logits of each pixel (first on ties).</summary>
    public void Predict(Span<byte> labels)
    {
        if (labels.Length != _batch * Pixels) throw new MtkdInputException($"model '{Spec}': {labels.Length} labels for {_batch} x {Pixels} pixels");
        Argmax(Logits, _batch, Classes, Pixels, labels);
    }

    /// <summary>labels[s, p] = argmax over c of z[s, c, p] (first on ties), for <paramref name="images"/> maps of C x P.</summary>
    public static void Argmax(ReadOnlySpan<float> z, int images, int C, int P, Span<byte> labels)
    {
        for (int s = 0; s < images; s++)
            for (int p = 0; p < P; p++)
            {
                int best = 0;
                float top = z[s * C * P + p];
                for (int c = 1; c < C; c++)
                {
                    float v = z[(s * C + c) * P + p];
                    if (v > top) { top = v; best = c; }
                }
                labels[s * P + p] = (byte)best;
            }
    }

    public string Describe() =>
        string.Join(Environment.NewLine, Layers.Select(l => l.ToString()))
        + Environment.NewLine + $"{Spec}: {ParameterCount:N0} parameters, {Classes} logits per pixel, embedding width {EmbeddingWidth}";
}
