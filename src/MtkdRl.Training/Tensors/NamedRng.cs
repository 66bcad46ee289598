using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>A random stream owned by a layer (e.g. a dropout mask generator), named so a checkpoint can save and restore its state.</summary>
public sealed record NamedRng(string Name, Rng Generator);
