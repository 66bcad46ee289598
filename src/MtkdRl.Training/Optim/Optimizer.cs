using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>
/// Updates parameters from their gradients. The learning rate is a property so a schedule can set it before
/// each <see cref="Step"/>. Weight decay applies only to parameters whose <see cref="Parameter.Decay"/> is
/// true (weights, not biases or BatchNorm scales).
/// <para>
/// <see cref="ExportState"/> returns copies of the evolving state (per-parameter buffers and the step
/// count) plus the hyperparameters as scalars for the record; <see cref="ImportState"/> restores the
/// evolving state after checking the kind, every tensor name and shape, and leaves the hyperparameters
/// given to the constructor in force.
/// </para>
/// </summary>
public abstract class Optimizer
{
    private readonly Dictionary<string, int> _index;

    protected Optimizer(IEnumerable<Parameter> parameters, double learningRate, double weightDecay)
    {
        Parameters = parameters.ToList();
        if (Parameters.Count == 0) throw new MtkdInputException($"{Kind}: no parameters to optimise");
        _index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < Parameters.Count; i++)
        {
            if (!_index.TryAdd(Parameters[i].Name, i))
                throw new MtkdInputException($"{Kind}: two parameters are named '{Parameters[i].Name}'");
        }
        if (!(weightDecay >= 0) || double.IsInfinity(weightDecay))
            throw new MtkdInputException($"{Kind}: weight decay must be a finite number >= 0 (got {weightDecay})");
        LearningRate = learningRate;
        WeightDecay = weightDecay;
    }

    /// <summary>"sgd" or "adam": the name used in exported state.</summary>
    public abstract string Kind { get; }

    public IReadOnlyList<Parameter> Parameters { get; }

    public double LearningRate
    {
        get;
        set
        {
            if (!(value >= 0) || double.IsInfinity(value))
                throw new MtkdInputException($"{Kind}: learning rate must be a finite number >= 0 (got {value})");
            field = value;
        }
    }

    public double WeightDecay { get; }

    /// <summary>Steps taken so far (restored by <see cref="ImportState"/>).</summary>
    public long StepCount { get; protected set; }

    /// <summary>Applies one update to every parameter from its current gradient.</summary>
    public void Step()
    {
        StepCount++;
        for (int i = 0; i < Parameters.Count; i++) Update(i, Parameters[i]);
    }

    protected abstract void Update(int index, Parameter parameter);

    /// <summary>Per-parameter buffer names (suffixes after "{parameter}.") in export order.</summary>
    protected abstract IReadOnlyList<string> BufferNames { get; }

    /// <summary>The buffer called <paramref name="suffix"/> of parameter <paramref name="index"/>.</summary>
    protected abstract float[] Buffer(int index, string suffix);

    /// <summary>Hyperparameters recorded with the state.</summary>
    protected abstract IEnumerable<KeyValuePair<string, double>> Hyperparameters { get; }

    public OptimizerState ExportState()
    {
        var tensors = new List<NamedTensor>();
        for (int i = 0; i < Parameters.Count; i++)
        {
            foreach (string suffix in BufferNames)
            {
                var t = new NamedTensor($"{Parameters[i].Name}.{suffix}", [.. Parameters[i].Shape]);
                Buffer(i, suffix).CopyTo(t.Value, 0);
                tensors.Add(t);
            }
        }
        var scalars = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["step"] = StepCount,
            ["learning_rate"] = LearningRate,
            ["weight_decay"] = WeightDecay,
        };
        foreach (var (key, value) in Hyperparameters) scalars[key] = value;
        return new OptimizerState(Kind, tensors, scalars);
    }

    public void ImportState(OptimizerState state)
    {
        string Where() => $"{Kind} state";
        if (state.Kind != Kind) throw new MtkdInputException($"{Where()}: the saved state is for '{state.Kind}', not '{Kind}'");
        if (!state.Scalars.TryGetValue("step", out double step) || !(step >= 0) || step != Math.Floor(step) || step > long.MaxValue)
            throw new MtkdInputException($"{Where()}: missing or invalid 'step' scalar");
        var byName = new Dictionary<string, NamedTensor>(StringComparer.Ordinal);
        foreach (var t in state.Tensors)
        {
            if (!byName.TryAdd(t.Name, t)) throw new MtkdInputException($"{Where()}: tensor '{t.Name}' appears twice");
        }
        int expected = Parameters.Count * BufferNames.Count;
        // Check everything before changing anything, so a refused import leaves the optimiser as it was.
        for (int i = 0; i < Parameters.Count; i++)
        {
            foreach (string suffix in BufferNames)
            {
                string name = $"{Parameters[i].Name}.{suffix}";
                if (!byName.TryGetValue(name, out var t)) throw new MtkdInputException($"{Where()}: tensor '{name}' is missing");
                if (!t.Shape.SequenceEqual(Parameters[i].Shape))
                    throw new MtkdInputException(
                        $"{Where()}: tensor '{name}' has shape [{string.Join(",", t.Shape)}], the parameter has [{string.Join(",", Parameters[i].Shape)}]");
            }
        }
        if (byName.Count != expected)
        {
            var known = new HashSet<string>(Parameters.SelectMany(p => BufferNames.Select(s => $"{p.Name}.{s}")));
            string extra = byName.Keys.First(k => !known.Contains(k));
            throw new MtkdInputException($"{Where()}: tensor '{extra}' matches no parameter");
        }
        for (int i = 0; i < Parameters.Count; i++)
            foreach (string suffix in BufferNames)
                byName[$"{Parameters[i].Name}.{suffix}"].Value.CopyTo(Buffer(i, suffix), 0);
        StepCount = (long)step;
    }

    protected static void CheckHyper(string kind, string name, double value, double min, double max, bool maxInclusive = false)
    {
        bool ok = value >= min && (maxInclusive ? value <= max : value < max);
        if (!ok) throw new MtkdInputException($"{kind}: {name} must be in [{min}, {max}{(maxInclusive ? "]" : ")")} (got {value})");
    }
}
