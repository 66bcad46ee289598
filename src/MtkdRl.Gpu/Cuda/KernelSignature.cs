namespace MtkdRl.Gpu.Cuda;

/// <summary>The C type of one kernel parameter, as far as launching is concerned.</summary>
internal enum KernelParameter
{
    /// <summary>A device pointer (8 bytes; PTX .u64).</summary>
    Pointer,
    /// <summary>int (4 bytes; PTX .u32 or .s32).</summary>
    Int32,
    /// <summary>float (4 bytes; PTX .f32).</summary>
    Float32,
}

/// <summary>
/// An extern "C" kernel of kernels/&lt;Module&gt;.cu and its parameter list, written down once for the launcher.
/// Tests hold it against the PTX .entry and the emulator's registry, so a packing mistake cannot reach a GPU.
/// </summary>
internal sealed record KernelSignature(string Module, string Name, IReadOnlyList<KernelParameter> Parameters)
{
    public static int SizeOf(KernelParameter p) => p == KernelParameter.Pointer ? 8 : 4;

    public override string ToString() => Name;

    /// <summary>Shorthand: 'p' pointer, 'i' int, 'f' float, e.g. "ppiif".</summary>
    public static KernelSignature Parse(string module, string name, string parameters) =>
        new(module, name, parameters.Select(c => c switch
        {
            'p' => KernelParameter.Pointer,
            'i' => KernelParameter.Int32,
            'f' => KernelParameter.Float32,
            _ => throw new ArgumentException($"unknown parameter code '{c}'", nameof(parameters)),
        }).ToArray());
}
