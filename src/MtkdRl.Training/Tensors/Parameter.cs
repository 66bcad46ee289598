using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>
/// A trainable tensor: its values, the gradient of the loss with respect to them (written by the owning
/// layer's Backward, which overwrites rather than accumulates), and whether weight decay applies.
/// Names follow the PyTorch convention ("fc1.weight", "bn1.bias") and shapes the PyTorch layouts
/// (Linear [out, in], Conv2d [out, in, kh, kw]) so weights can cross between the two.
/// </summary>
public sealed class Parameter : NamedTensor
{
    public Parameter(string name, int[] shape, bool decay) : base(name, shape)
    {
        Grad = new float[Value.Length];
        Decay = decay;
    }

    public float[] Grad { get; }

    /// <summary>
    /// True for weights of Linear and Conv2d layers; false for biases and BatchNorm's scale and shift, whose
    /// decay toward zero only fights the normalisation.
    /// </summary>
    public bool Decay { get; }
}

/// <summary>A named float32 tensor owned by a layer: a parameter or a buffer such as BatchNorm's running mean.</summary>
public class NamedTensor
{
    public NamedTensor(string name, int[] shape)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new MtkdInputException("tensor name must not be empty");
        if (shape.Length == 0 || shape.Any(d => d <= 0))
            throw new MtkdInputException($"tensor '{name}': shape [{string.Join(",", shape)}] must have positive sizes");
        long size = shape.Aggregate(1L, (a, d) => a * d);
        if (size > Array.MaxLength) throw new MtkdInputException($"tensor '{name}': {size} values is too many");
        Name = name;
        Shape = (int[])shape.Clone();
        Value = new float[size];
    }

    public string Name { get; }

    /// <summary>Sizes, outermost first (a copy; the tensor's shape never changes).</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>Values, row-major; length is the product of <see cref="Shape"/>.</summary>
    public float[] Value { get; }

    public int Size => Value.Length;

    public override string ToString() => $"{Name} [{string.Join(",", Shape)}]";
}
