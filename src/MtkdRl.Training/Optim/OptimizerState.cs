namespace MtkdRl.Training;

/// <summary>
/// What an optimiser must carry across a checkpoint: named tensors (e.g. "fc1.weight.momentum_buffer",
/// shaped like the parameter) and named scalars ("step", and the hyperparameters for the record).
/// <see cref="Kind"/> names the optimiser ("sgd", "adam") so a mismatched import is refused.
/// </summary>
public sealed class OptimizerState
{
    public OptimizerState(string kind, IReadOnlyList<NamedTensor> tensors, IReadOnlyDictionary<string, double> scalars)
    {
        Kind = kind;
        Tensors = tensors;
        Scalars = scalars;
    }

    public string Kind { get; }
    public IReadOnlyList<NamedTensor> Tensors { get; }
    public IReadOnlyDictionary<string, double> Scalars { get; }
}
