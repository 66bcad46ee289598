namespace MtkdRl.Core.Distill;

/// <summary>
/// The shape of one distillation batch: B rows, K teachers, C classes, and teacher k's embedding
/// width D[k] (ragged widths allowed; 0 for a teacher without features, where cos = mse = 0 and there is no
/// feature term, on the backends that support it: <see cref="IDistillBackend.SupportsFeaturelessTeachers"/>).
/// <para>Memory layouts used by every backend (row-major, float32 unless stated):</para>
/// <list type="bullet">
/// <item>zs [B,C] student logits; zt [K,B,C] teacher logits, teacher-major (teacher k's block is contiguous).</item>
/// <item>fs, ft [B,F] with F = sum_k D[k]: row b holds every teacher's features side by side, teacher k in
/// columns [FeatureOffset[k], FeatureOffset[k]+D[k]). This is what one fused projection GEMM produces.</item>
/// <item>y [B] int32 labels in [0,C), or -1 for an ignored row.</item>
/// <item>wl, wf and every per-teacher statistic: [B,K] (row b, teacher k at b*K+k).</item>
/// </list>
/// </summary>
public sealed class DistillShape
{
    /// <summary>Largest teacher count the kernels are built and tested for (GPU shared-memory sizing).</summary>
    public const int MaxTeachers = 1024;

    public int B { get; }
    public int K { get; }
    public int C { get; }
    /// <summary>Embedding width of each teacher (length K).</summary>
    public IReadOnlyList<int> D => _d;
    /// <summary>Prefix sums of D (length K+1): teacher k's columns start at FeatureOffset[k].</summary>
    public IReadOnlyList<int> FeatureOffset => _offset;
    /// <summary>F = sum of D: the row width of fs and ft.</summary>
    public int F => _offset[^1];

    private readonly int[] _d;
    private readonly int[] _offset;

    public DistillShape(int b, int c, IReadOnlyList<int> d)
    {
        if (b < 1) throw new MtkdInputException($"batch size B must be at least 1 (got {b})");
        if (c < 2) throw new MtkdInputException($"class count C must be at least 2 (got {c})");
        if (d is null || d.Count == 0) throw new MtkdInputException("teacher count K must be at least 1 (got 0)");
        if (d.Count > MaxTeachers) throw new MtkdInputException($"teacher count K must be at most {MaxTeachers} (got {d.Count})");
        _d = d.ToArray();
        _offset = new int[_d.Length + 1];
        long sum = 0;
        for (int k = 0; k < _d.Length; k++)
        {
            if (_d[k] < 0) throw new MtkdInputException($"teacher {k}: embedding width D must be at least 0 (got {_d[k]})");
            sum += _d[k];
            if (sum > int.MaxValue) throw new MtkdInputException("sum of teacher embedding widths overflows");
            _offset[k + 1] = (int)sum;
        }
        B = b; C = c; K = _d.Length;
        // Every buffer is indexed with int on the GPU; refuse shapes whose largest buffer would overflow.
        CheckElements("teacher logits zt [K,B,C]", (long)K * B * C);
        CheckElements("features [B,F]", (long)B * F);
    }

    /// <summary>Uniform width D for every teacher.</summary>
    public DistillShape(int b, int k, int c, int d) : this(b, c, UniformWidths(k, d)) { }

    private static int[] UniformWidths(int k, int d)
    {
        if (k < 1) throw new MtkdInputException($"teacher count K must be at least 1 (got {k})");
        if (k > MaxTeachers) throw new MtkdInputException($"teacher count K must be at most {MaxTeachers} (got {k})");
        return Enumerable.Repeat(d, k).ToArray();
    }

    private static void CheckElements(string what, long n)
    {
        if (n > int.MaxValue) throw new MtkdInputException($"{what} has {n} elements, more than {int.MaxValue}");
    }

    public int[] WidthsArray() => (int[])_d.Clone();
    public int[] OffsetsArray() => (int[])_offset.Clone();
    public bool UniformWidth => _d.All(x => x == _d[0]);

    public override string ToString() =>
        UniformWidth ? $"B={B} K={K} C={C} D={_d[0]}" : $"B={B} K={K} C={C} D=[{string.Join(',', _d)}]";
}
