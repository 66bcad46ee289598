namespace MtkdRl.Onnx;

/// <summary>A tensor of the graph being built: its name, and its rank (2: [N, D] rows; 4: [N, C, H, W] images).</summary>
public readonly record struct OnnxValue(string Name, int Rank);
