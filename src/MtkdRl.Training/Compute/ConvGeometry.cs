using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>
/// A 2-D window sweep (convolution or pooling) over a Channels x Height x Width input: Kernel x Kernel windows
/// every Stride pixels, Padding zero pixels on each side; OutHeight = (H + 2 Padding - Kernel) / Stride + 1.
/// </summary>
public readonly record struct ConvGeometry
{
    public ConvGeometry(string layer, SampleShape input, int kernel, int stride, int padding)
    {
        if (kernel <= 0) throw new MtkdInputException($"layer '{layer}': kernel size must be positive (got {kernel})");
        if (stride <= 0) throw new MtkdInputException($"layer '{layer}': stride must be positive (got {stride})");
        if (padding < 0) throw new MtkdInputException($"layer '{layer}': padding must be >= 0 (got {padding})");
        int outHeight = (input.Height + 2 * padding - kernel) / stride + 1;
        int outWidth = (input.Width + 2 * padding - kernel) / stride + 1;
        if (input.Height + 2 * padding < kernel || input.Width + 2 * padding < kernel)
            throw new MtkdInputException(
                $"layer '{layer}': a {kernel}x{kernel} window does not fit the {input.Height}x{input.Width} input with padding {padding}");
        Input = input;
        Kernel = kernel;
        Stride = stride;
        Padding = padding;
        OutHeight = outHeight;
        OutWidth = outWidth;
    }

    public SampleShape Input { get; }
    public int Kernel { get; }
    public int Stride { get; }
    public int Padding { get; }
    public int OutHeight { get; }
    public int OutWidth { get; }

    /// <summary>Output pixels per channel.</summary>
    public int OutPlane => OutHeight * OutWidth;

    /// <summary>Values in one input patch: Channels * Kernel * Kernel (the GEMM's inner dimension).</summary>
    public int PatchSize => Input.Channels * Kernel * Kernel;
}
