using ILGPU.Algorithms;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>
/// Sums over one teacher's feature slice (fs, ft of width D_k):
/// cos = dot / (sqrt(ss) sqrt(tt) + eps), mse = sq / D_k. P = sum (fs - fs) + (ft - ft) is 0, or NaN
/// when any value is NaN or ±Inf, and is added to both so a bad slice always shows as NaN
/// (a plain sum can turn an Inf into a finite or infinite cosine instead).
/// </summary>
public struct FeatureRowStats
{
    public float Dot, Ss, Tt, Sq, P;

    public void Add(float s, float t)
    {
        float diff = s - t;
        Dot += s * t;
        Ss += s * s;
        Tt += t * t;
        Sq += diff * diff;
        P += (s - s) + (t - t);
    }

    public readonly float Cosine(float eps) => Dot / (XMath.Sqrt(Ss) * XMath.Sqrt(Tt) + eps) + P;

    public readonly float MeanSquare(int width) => Sq / width + P;

    public static FeatureRowStats Sum(FeatureRowStats x, FeatureRowStats y)
    {
        x.Dot += y.Dot;
        x.Ss += y.Ss;
        x.Tt += y.Tt;
        x.Sq += y.Sq;
        x.P += y.P;
        return x;
    }
}
