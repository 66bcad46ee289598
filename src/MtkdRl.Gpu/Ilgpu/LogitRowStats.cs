using ILGPU;
using ILGPU.Algorithms;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>
/// Running softmax statistics of one logit row z (a teacher's, or the student's) in a single read, with
/// the maximum M found on the way ("online softmax"). With d_c = z_c - M &lt;= 0 and a = the first argmax:
/// <code>
///   X1 = sum_{c != a} e^{d_c}            S1 = 1 + X1: lse1 = M + log1p(X1), max prob = 1/S1
///   E  = sum_c e^{d_c} (-d_c)            entropy H = log S1 + E/S1 (no cancellation: both terms >= 0)
///   XT = sum_{c != a} e^{d_c/T}          ST = 1 + XT: lseT = M/T + log1p(XT)
///   P  = sum_c (z_c - z_c)               0, or NaN when any z_c is NaN or ±Inf (the non-finite contract)
/// </code>
/// The sums leave out the maximum's own term (exactly 1) so that log S stays accurate when S is close to 1
/// (a confident row: ce = log S1 is then tiny, and 1 + X rounded to float would lose it).
/// When the maximum grows from M to M' (d0 = M - M' &lt; 0) every sum is rescaled in place and the old
/// maximum joins the ordinary classes: X' = e^{d0} (X + 1), E' = e^{d0} (E - d0 S1).
/// Two partial results over disjoint classes merge the same way, which is how lanes and warps combine.
/// Exponentials are written base 2 (e^x = 2^{x log2 e}) because that is the hardware instruction on GPUs.
/// </summary>
public struct LogitRowStats
{
    public const float Log2E = 1.44269504088896341f;
    public const float Ln2 = 0.693147180559945309f;

    /// <summary>Largest logit seen; -Inf while no class has been seen.</summary>
    public float M;
    /// <summary>Class index of the first occurrence of <see cref="M"/> (int.MaxValue while empty).</summary>
    public int Argmax;
    public float X1, E, XT, P;

    public static LogitRowStats Empty => new()
    {
        M = float.NegativeInfinity, Argmax = int.MaxValue, X1 = 0, E = 0, XT = 0, P = 0,
    };

    /// <summary>log sum_c e^{z_c - M}.</summary>
    public readonly float LogS1 => Log1p(X1);

    /// <summary>log sum_c e^{(z_c - M)/T}.</summary>
    public readonly float LogST => Log1p(XT);

    /// <summary>
    /// Makes <paramref name="newMax"/> (at class <paramref name="at"/>) the reference maximum; the class at
    /// <paramref name="at"/> must then be added with <see cref="Add"/> like any other.
    /// </summary>
    /// <param name="log2ET">log2(e)/T.</param>
    public void RaiseMax(float newMax, int at, float log2ET)
    {
        // An empty accumulator has nothing to rescale (and -Inf - x would poison it with NaN).
        if (M != float.NegativeInfinity)
        {
            float d0 = M - newMax;
            float r1 = XMath.Exp2(d0 * Log2E);
            float rT = XMath.Exp2(d0 * log2ET);
            E = r1 * (E - d0 * (1f + X1));
            X1 = r1 * (X1 + 1f);
            XT = rT * (XT + 1f);
        }
        M = newMax;
        Argmax = at;
    }

    /// <summary>Adds class <paramref name="index"/>, whose logit is not above <see cref="M"/>.</summary>
    public void Add(float z, int index, float log2ET)
    {
        float d = z - M;
        float e1 = XMath.Exp2(d * Log2E);
        float eT = XMath.Exp2(d * log2ET);
        bool ordinary = index != Argmax;
        X1 += ordinary ? e1 : 0f;
        XT += ordinary ? eT : 0f;
        E -= e1 * d;
        P += z - z;
    }

    /// <summary>Merges the statistics of two disjoint class sets; <paramref name="low"/> holds the lower lanes.</summary>
    public static LogitRowStats Merge(LogitRowStats low, LogitRowStats high, float log2ET)
    {
        float p = low.P + high.P;
        if (high.M == float.NegativeInfinity) { low.P = p; return low; }
        if (low.M == float.NegativeInfinity) { high.P = p; return high; }
        // First argmax: the larger logit wins, equal logits keep the smaller class index.
        bool highWins = high.M > low.M || (high.M == low.M && high.Argmax < low.Argmax);
        var w = highWins ? high : low;
        var l = highWins ? low : high;
        float d = l.M - w.M;
        float r1 = XMath.Exp2(d * Log2E), rT = XMath.Exp2(d * log2ET);
        LogitRowStats r;
        r.M = w.M;
        r.Argmax = w.Argmax;
        r.X1 = w.X1 + r1 * (1f + l.X1);
        r.XT = w.XT + rT * (1f + l.XT);
        r.E = w.E + r1 * (l.E - d * (1f + l.X1));
        r.P = p;
        return r;
    }

    /// <summary>
    /// Combines the 32 lanes of a warp with a butterfly, so every lane ends with the whole row's statistics
    /// (the lower lane is always the left operand, so all lanes compute bit-identical results).
    /// </summary>
    public static LogitRowStats WarpAllReduce(LogitRowStats mine, float log2ET)
    {
        int lane = Warp.LaneIdx;
        for (int mask = 1; mask < Warp.WarpSize; mask <<= 1)
        {
            // One shuffle of the whole struct: ILGPU splits it into 32-bit shuffles on GPUs, and the CPU
            // simulator pays its warp barriers once instead of once per field.
            var other = Warp.ShuffleXor(mine, mask);
            mine = (lane & mask) == 0 ? Merge(mine, other, log2ET) : Merge(other, mine, log2ET);
        }
        return mine;
    }

    /// <summary>
    /// log(1 + x) for x >= 0, accurate for small x where 1 + x would round: 2 atanh(s) = 2 (s + s^3/3 + ...)
    /// with s = x/(2 + x) below 1/8 (s &lt; 0.06, five terms reach float precision), log2 above.
    /// </summary>
    public static float Log1p(float x)
    {
        if (x < 0.125f)
        {
            float s = x / (2f + x);
            float s2 = s * s;
            return 2f * s * (1f + s2 * (1f / 3f + s2 * (1f / 5f + s2 * (1f / 7f + s2 * (1f / 9f)))));
        }
        return XMath.Log2(1f + x) * Ln2;
    }
}
