namespace MtkdRl.Core;

/// <summary>
/// A small, fast random generator (xoshiro256**) whose whole state is four numbers, so training can save it in
/// a checkpoint and resume with exactly the same shuffles, augmentations and dropout masks. System.Random
/// offers no way to read or restore its state.
/// </summary>
public sealed class Rng
{
    private ulong _s0, _s1, _s2, _s3;

    /// <summary>Seeds the state with SplitMix64, as xoshiro's authors recommend, so nearby seeds give unrelated streams.</summary>
    public Rng(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
    }

    private Rng(ulong[] state) => State = state;

    /// <summary>The full state, for checkpoints.</summary>
    public ulong[] State
    {
        get => [_s0, _s1, _s2, _s3];
        set
        {
            if (value is not { Length: 4 } || (value[0] | value[1] | value[2] | value[3]) == 0)
                throw new MtkdInputException("random generator state must be four numbers, not all zero");
            (_s0, _s1, _s2, _s3) = (value[0], value[1], value[2], value[3]);
        }
    }

    public static Rng FromState(ulong[] state) => new(state);

    /// <summary>An independent generator derived from this one's next output (for per-worker streams).</summary>
    public Rng Fork() => new(NextUInt64());

    public ulong NextUInt64()
    {
        ulong result = RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [0, 1) with 24 random bits.</summary>
    public float NextSingle() => (NextUInt64() >> 40) * (1f / (1 << 24));

    /// <summary>Uniform integer in [0, n), without modulo bias (Lemire's multiply-and-reject).</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "must be positive");
        ulong range = (ulong)n;
        while (true)
        {
            ulong x = NextUInt64() >> 32;
            ulong m = x * range;
            if ((uint)m >= (uint)(((1UL << 32) - range) % range)) return (int)(m >> 32);
        }
    }

    /// <summary>Standard normal (Box-Muller).</summary>
    public double NextGaussian()
    {
        double u1 = 1.0 - NextDouble(), u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>Fisher-Yates shuffle in place.</summary>
    public void Shuffle<T>(Span<T> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    private static ulong RotateLeft(ulong x, int k) => (x << k) | (x >> (64 - k));

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
