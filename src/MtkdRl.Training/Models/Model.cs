using System.Numerics.Tensors;
using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>
/// A classifier network split where feature distillation needs it: the body maps an input [B, Ch, H, W] to
/// the embedding [B, D] (the penultimate activations), the head (optional dropout, then a Linear
/// classifier) maps the embedding to logits [B, C].
/// <para>One training step:</para>
/// <code>
///   model.Forward(x, B, training: true);                 // model.Logits [B,C], model.Embedding [B,D]
///   SoftmaxCrossEntropy.Compute(model.Logits, y, C, dLogits);   // or the distillation op's dL/dzs
///   model.Backward(dLogits, dEmbedding);                 // dEmbedding [B,D] from projection heads, or empty
///   optimizer.Step();                                    // reads every Parameter.Grad
/// </code>
/// Parameter gradients are overwritten by each Backward. The batch size may change between calls; the
/// arrays behind <see cref="Logits"/> and <see cref="Embedding"/> are reused, so copy what must outlive
/// the next call.
/// </summary>
public sealed class Model
{
    private readonly Layer[] _body, _head;
    private readonly BatchBuffer<float> _input, _gradLogits, _gradEmbedding;
    private float[] _embedding = [], _logits = [];
    private float[]? _inputGradient;
    private int _batch;

    internal Model(ModelSpec spec, SampleShape input, int classes, IReadOnlyList<Layer> body, IReadOnlyList<Layer> head)
    {
        Spec = spec;
        InputShape = input;
        Classes = classes;
        _body = [.. body];
        _head = [.. head];
        EmbeddingWidth = (_body.Length == 0 ? input : _body[^1].OutputShape).Size;
        Layers = [.. _body, .. _head];
        Parameters = Layers.SelectMany(l => l.Parameters).ToList();
        Buffers = Layers.SelectMany(l => l.Buffers).ToList();
        RandomStreams = Layers.SelectMany(l => l.RandomStreams).ToList();
        var duplicate = Parameters.Select(p => p.Name).Concat(Buffers.Select(b => b.Name)).Concat(RandomStreams.Select(r => r.Name))
            .GroupBy(n => n).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new MtkdInputException($"model '{spec}': two tensors are named '{duplicate.Key}'");
        _input = new BatchBuffer<float>(input.Size);
        _gradLogits = new BatchBuffer<float>(classes);
        _gradEmbedding = new BatchBuffer<float>(EmbeddingWidth);
    }

    public ModelSpec Spec { get; }

    /// <summary>The shape of one input sample (Ch x H x W, from the dataset).</summary>
    public SampleShape InputShape { get; }

    /// <summary>C: the number of logits per sample.</summary>
    public int Classes { get; }

    /// <summary>D: the width of the embedding (penultimate activations) that feature distillation matches.</summary>
    public int EmbeddingWidth { get; }

    /// <summary>Every layer, input to output (the body, then the head).</summary>
    public IReadOnlyList<Layer> Layers { get; }

    /// <summary>The layers from the input to the embedding (none for a linear model, whose embedding is its input).</summary>
    public IReadOnlyList<Layer> Body => _body;

    /// <summary>The layers from the embedding to the logits (optional dropout, then the classifier).</summary>
    public IReadOnlyList<Layer> Head => _head;

    /// <summary>Trainable tensors with gradients, in layer order; names are unique.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>Non-trainable tensors a checkpoint must keep (BatchNorm running statistics).</summary>
    public IReadOnlyList<NamedTensor> Buffers { get; }

    /// <summary>Random streams a checkpoint must keep (dropout masks).</summary>
    public IReadOnlyList<NamedRng> RandomStreams { get; }

    /// <summary>Every tensor a checkpoint holds: the parameters, then the buffers, in layer order.</summary>
    public IEnumerable<NamedTensor> NamedTensors => Parameters.Concat(Buffers);

    /// <summary>The parameter or buffer called <paramref name="name"/>, or null.</summary>
    public NamedTensor? FindTensor(string name) => NamedTensors.FirstOrDefault(t => t.Name == name);

    public long ParameterCount => Parameters.Sum(p => (long)p.Size);

    /// <summary>Rows of the last Forward (0 before the first).</summary>
    public int Batch => _batch;

    /// <summary>Logits [Batch, C] of the last Forward.</summary>
    public ReadOnlySpan<float> Logits => _logits.AsSpan(0, _batch * Classes);

    /// <summary>Embedding [Batch, D] of the last Forward.</summary>
    public ReadOnlySpan<float> Embedding => _embedding.AsSpan(0, _batch * EmbeddingWidth);

    /// <summary>dL/dx [Batch, Ch*H*W] of the last Backward that asked for it (empty otherwise).</summary>
    public ReadOnlySpan<float> InputGradient => _inputGradient is null ? default : _inputGradient.AsSpan(0, _batch * InputShape.Size);

    /// <summary>
    /// Runs the network on <paramref name="batch"/> samples x [batch, Ch, H, W] (copied, so the caller may
    /// reuse its array at once). Training mode uses batch statistics and dropout; eval mode the running
    /// statistics and no dropout.
    /// </summary>
    public void Forward(ReadOnlySpan<float> x, int batch, bool training)
    {
        if (batch <= 0) throw new MtkdInputException($"model '{Spec}': batch size must be positive (got {batch})");
        long needed = (long)batch * InputShape.Size;
        if (x.Length != needed)
            throw new MtkdInputException(
                $"model '{Spec}': input holds {x.Length} values, a batch of {batch} samples of {InputShape} needs {needed}");
        var input = _input.Rows(batch);
        x.CopyTo(input);
        _batch = 0;
        _inputGradient = null;
        var a = input;
        foreach (var layer in _body) a = layer.Forward(a, batch, training);
        _embedding = a;
        foreach (var layer in _head) a = layer.Forward(a, batch, training);
        _logits = a;
        _batch = batch;
    }

    /// <summary>
    /// Back-propagates from the gradient at the logits [Batch, C] plus, when not empty, an extra gradient at
    /// the embedding [Batch, D] (the feature-distillation heads' dL/d embedding), writing every parameter's
    /// gradient. With <paramref name="inputGradient"/>, also fills <see cref="InputGradient"/>.
    /// </summary>
    public void Backward(ReadOnlySpan<float> gradLogits, ReadOnlySpan<float> gradEmbedding = default, bool inputGradient = false)
    {
        if (_batch == 0) throw new InvalidOperationException($"model '{Spec}': Backward called before Forward");
        int B = _batch;
        if (gradLogits.Length != B * Classes)
            throw new MtkdInputException($"model '{Spec}': logit gradient holds {gradLogits.Length} values, expected {B} x {Classes}");
        if (!gradEmbedding.IsEmpty && gradEmbedding.Length != B * EmbeddingWidth)
            throw new MtkdInputException(
                $"model '{Spec}': embedding gradient holds {gradEmbedding.Length} values, expected {B} x {EmbeddingWidth}");
        var g = _gradLogits.Rows(B);
        gradLogits.CopyTo(g);
        bool bodyNeedsGradient = _body.Length > 0 || inputGradient;
        for (int i = _head.Length - 1; i >= 0; i--)
            g = _head[i].Backward(g, inputGradient: i > 0 || bodyNeedsGradient)!;
        if (!bodyNeedsGradient) return;
        if (!gradEmbedding.IsEmpty)
        {
            var sum = _gradEmbedding.Rows(B);
            var n = B * EmbeddingWidth;
            TensorPrimitives.Add(g.AsSpan(0, n), gradEmbedding, sum.AsSpan(0, n));
            g = sum;
        }
        for (int i = _body.Length - 1; i >= 0; i--)
        {
            bool wantInput = i > 0 || inputGradient;
            var next = _body[i].Backward(g, wantInput);
            if (!wantInput) return;
            g = next!;
        }
        _inputGradient = g;
    }

    /// <summary>One line per layer and the parameter count, for logs.</summary>
    public string Describe() =>
        string.Join(Environment.NewLine, Layers.Select(l => l.ToString()))
        + Environment.NewLine + $"{Spec}: {ParameterCount:N0} parameters, embedding width {EmbeddingWidth}";
}
