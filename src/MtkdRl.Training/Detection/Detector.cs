using System.Numerics.Tensors;
using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>
/// A one-stage, anchor-free detector (docs/DETECTION.md): a convolutional body (a stack of stages, or with option u
/// an encoder-decoder) maps an image [Ch, H, W] to features [D, Hg, Wg] at output stride s (Hg = H / s,
/// Wg = W / s), and two 3x3 heads read every location of them: the class head C + 1 logits (column 0 background,
/// column c the category c; with option hN after N blocks of its own), the box head the four
/// <see cref="BoxCoding"/> outputs. The per-image embedding is the features' global average [D].
/// <para>Layouts after <see cref="Forward"/>, L = Hg * Wg locations per image:</para>
/// <code>
///   ClassLogits  [B * L, C + 1]   row b * L + y * Wg + x: image b, location (x, y); one softmax per row
///   BoxOutputs   [B * L, 4]       the same rows
///   Embedding    [B, D]
/// </code>
/// So the class logits are B * L rows of a classifier's logits, the fused op's zs, with RowGroups mapping row
/// b * L + l to sample b. Backward takes gradients in the same layouts; parameter gradients are overwritten.
/// </summary>
public sealed class Detector : IDetectionNetwork
{
    private readonly EncoderDecoder _body;
    private readonly Layer[] _classTower;
    private readonly Conv2d _classHead, _boxHead;
    private readonly GlobalAvgPool _pool;
    private readonly BatchBuffer<float> _input, _classRows, _boxRows, _gradClass, _gradBox, _gradFeatures;
    private float[] _embedding = [];
    private int _batch;

    internal Detector(ModelSpec spec, SampleShape input, int classes, int stride, EncoderDecoder body, IReadOnlyList<Layer> classTower,
        Conv2d classHead, Conv2d boxHead, GlobalAvgPool pool)
    {
        Spec = spec;
        InputShape = input;
        Classes = classes;
        Stride = stride;
        _body = body;
        _classTower = [.. classTower];
        _classHead = classHead;
        _boxHead = boxHead;
        _pool = pool;
        var features = body.OutputShape;
        GridHeight = features.Height;
        GridWidth = features.Width;
        EmbeddingWidth = features.Channels;
        Layers = [.. _body.Layers, .. _classTower, _classHead, _boxHead, _pool];
        Parameters = Layers.SelectMany(l => l.Parameters).ToList();
        Buffers = Layers.SelectMany(l => l.Buffers).ToList();
        _input = new BatchBuffer<float>(input.Size);
        _classRows = new BatchBuffer<float>(Locations * ClassColumns);
        _boxRows = new BatchBuffer<float>(Locations * BoxCoding.Outputs);
        _gradClass = new BatchBuffer<float>(Locations * ClassColumns);
        _gradBox = new BatchBuffer<float>(Locations * BoxCoding.Outputs);
        _gradFeatures = new BatchBuffer<float>(features.Size);
    }

    public ModelSpec Spec { get; }

    public SampleShape InputShape { get; }

    /// <summary>C: object classes (categories 1..C); the class head has C + 1 columns.</summary>
    public int Classes { get; }

    /// <summary>C + 1: background and the C classes.</summary>
    public int ClassColumns => Classes + 1;

    /// <summary>s: pixels per location along each axis.</summary>
    public int Stride { get; }

    public int GridHeight { get; }

    public int GridWidth { get; }

    /// <summary>L: output locations per image.</summary>
    public int Locations => GridHeight * GridWidth;

    /// <summary>D: the width of the per-image embedding.</summary>
    public int EmbeddingWidth { get; }

    public IReadOnlyList<Layer> Layers { get; }

    /// <summary>The body: a plain stack (one encoder stage, no decoder) or, with option u, an encoder-decoder.</summary>
    public EncoderDecoder Body => _body;

    /// <summary>The hN blocks between the features and the class head (empty without the option).</summary>
    public IReadOnlyList<Layer> ClassTower => _classTower;

    public Layer ClassHead => _classHead;

    public Layer BoxHead => _boxHead;

    public IReadOnlyList<Parameter> Parameters { get; }

    public IReadOnlyList<NamedTensor> Buffers { get; }

    public IEnumerable<NamedTensor> NamedTensors => Parameters.Concat(Buffers);

    public long ParameterCount => Parameters.Sum(p => (long)p.Size);

    public int Batch => _batch;

    /// <summary>[Batch * L, C + 1] of the last Forward.</summary>
    public ReadOnlySpan<float> ClassLogits => _classRows.Current.AsSpan(0, _batch * Locations * ClassColumns);

    /// <summary>[Batch * L, 4] of the last Forward.</summary>
    public ReadOnlySpan<float> BoxOutputs => _boxRows.Current.AsSpan(0, _batch * Locations * BoxCoding.Outputs);

    /// <summary>[Batch, D] of the last Forward.</summary>
    public ReadOnlySpan<float> Embedding => _embedding.AsSpan(0, _batch * EmbeddingWidth);

    public string Description => Spec.ToString();

    public void Infer(ReadOnlySpan<float> x, int images) => Forward(x, images, training: false);

    public void Forward(ReadOnlySpan<float> x, int batch, bool training)
    {
        if (batch <= 0) throw new MtkdInputException($"detector '{Spec}': batch size must be positive (got {batch})");
        long needed = (long)batch * InputShape.Size;
        if (x.Length != needed)
            throw new MtkdInputException($"detector '{Spec}': input holds {x.Length} values, a batch of {batch} images of {InputShape} needs {needed}");
        var a = _input.Rows(batch);
        x.CopyTo(a);
        _batch = 0;
        a = _body.Forward(a, batch, training);
        var c = a;
        foreach (var layer in _classTower) c = layer.Forward(c, batch, training);
        PixelRows.ToRows(_classHead.Forward(c, batch, training), batch, ClassColumns, Locations, _classRows.Rows(batch));
        PixelRows.ToRows(_boxHead.Forward(a, batch, training), batch, BoxCoding.Outputs, Locations, _boxRows.Rows(batch));
        _embedding = _pool.Forward(a, batch, training);
        _batch = batch;
    }

    /// <summary>
    /// Back-propagates dL/d class logits [Batch * L, C + 1] and dL/d box outputs [Batch * L, 4], plus, when not
    /// empty, dL/d embedding [Batch, D], writing every parameter's gradient.
    /// </summary>
    public void Backward(ReadOnlySpan<float> gradClass, ReadOnlySpan<float> gradBox, ReadOnlySpan<float> gradEmbedding = default)
    {
        if (_batch == 0) throw new InvalidOperationException($"detector '{Spec}': Backward called before Forward");
        int B = _batch, L = Locations;
        if (gradClass.Length != B * L * ClassColumns || gradBox.Length != B * L * BoxCoding.Outputs)
            throw new MtkdInputException(
                $"detector '{Spec}': gradients hold {gradClass.Length} and {gradBox.Length} values, expected {B * L} x {ClassColumns} and {B * L} x {BoxCoding.Outputs}");
        if (!gradEmbedding.IsEmpty && gradEmbedding.Length != B * EmbeddingWidth)
            throw new MtkdInputException($"detector '{Spec}': embedding gradient holds {gradEmbedding.Length} values, expected {B} x {EmbeddingWidth}");
        var gc = _gradClass.Rows(B);
        var gb = _gradBox.Rows(B);
        PixelRows.FromRows(gradClass, B, ClassColumns, L, gc);
        PixelRows.FromRows(gradBox, B, BoxCoding.Outputs, L, gb);
        int n = B * _body.OutputShape.Size;
        var sum = _gradFeatures.Rows(B).AsSpan(0, n);
        var g = _classHead.Backward(gc, inputGradient: true)!;
        for (int i = _classTower.Length - 1; i >= 0; i--) g = _classTower[i].Backward(g)!;
        g.AsSpan(0, n).CopyTo(sum);
        TensorPrimitives.Add(sum, _boxHead.Backward(gb, inputGradient: true)!.AsSpan(0, n), sum);
        if (!gradEmbedding.IsEmpty)
        {
            var ge = gradEmbedding.ToArray();
            TensorPrimitives.Add(sum, _pool.Backward(ge, inputGradient: true)!.AsSpan(0, n), sum);
        }
        _body.Backward(_gradFeatures.Current, bottleneckGradient: null, inputGradient: false);
    }

    public string Describe() =>
        string.Join(Environment.NewLine, Layers.Select(l => l.ToString()))
        + Environment.NewLine + $"{Spec}: {ParameterCount:N0} parameters, stride {Stride}, {GridWidth}x{GridHeight} locations, embedding width {EmbeddingWidth}";
}
