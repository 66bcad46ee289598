namespace MtkdRl.Onnx;

/// <summary>How far two runtimes' outputs are apart, measured as every agreement check in this project is.</summary>
public static class OnnxAgreement
{
    /// <summary>max |got - want| / max |want|, in float64.</summary>
    public static double RelativeError(ReadOnlySpan<float> got, ReadOnlySpan<float> want)
    {
        if (got.Length != want.Length) throw new ArgumentException($"{got.Length} values against {want.Length}");
        double worst = 0, scale = 0;
        for (int i = 0; i < want.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs((double)got[i] - want[i]));
            scale = Math.Max(scale, Math.Abs((double)want[i]));
        }
        return worst / Math.Max(scale, 1e-30);
    }
}
