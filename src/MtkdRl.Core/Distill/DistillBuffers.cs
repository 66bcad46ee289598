namespace MtkdRl.Core.Distill;

/// <summary>Host-side inputs of one batch, laid out as <see cref="DistillShape"/> describes.</summary>
public sealed class DistillInputs
{
    public DistillShape Shape { get; }
    /// <summary>Student logits [B,C].</summary>
    public float[] Zs { get; }
    /// <summary>Teacher logits [K,B,C].</summary>
    public float[] Zt { get; }
    /// <summary>Student projections [B,F] (one slice of D[k] columns per teacher).</summary>
    public float[] Fs { get; }
    /// <summary>Teacher embeddings [B,F].</summary>
    public float[] Ft { get; }
    /// <summary>Labels [B], -1 = ignored row.</summary>
    public int[] Y { get; }
    /// <summary>Logit-KD weights [B,K].</summary>
    public float[] Wl { get; }
    /// <summary>Feature-KD weights [B,K].</summary>
    public float[] Wf { get; }

    public DistillInputs(DistillShape shape)
        : this(shape, new float[shape.B * shape.C], new float[shape.K * shape.B * shape.C],
               new float[shape.B * shape.F], new float[shape.B * shape.F], new int[shape.B],
               new float[shape.B * shape.K], new float[shape.B * shape.K]) { }

    public DistillInputs(DistillShape shape, float[] zs, float[] zt, float[] fs, float[] ft, int[] y, float[] wl, float[] wf)
    {
        Shape = shape;
        Zs = zs; Zt = zt; Fs = fs; Ft = ft; Y = y; Wl = wl; Wf = wf;
        DistillValidation.CheckSizes(this);
    }

    /// <summary>Rows whose label is not -1 (B' in docs/DESIGN.md §2).</summary>
    public int CountedRows()
    {
        int n = 0;
        foreach (var label in Y) if (label >= 0) n++;
        return n;
    }

    /// <summary>1/B', or 0 when every row is ignored (then the loss and every gradient are 0).</summary>
    public float InverseCountedRows()
    {
        int n = CountedRows();
        return n == 0 ? 0f : 1f / n;
    }
}

/// <summary>Outputs of the stats pass. Per-teacher arrays are [B,K]; student arrays are [B].</summary>
public sealed class DistillStats
{
    public DistillShape Shape { get; }
    /// <summary>T^2 * KL(pt^T || ps^T).</summary>
    public float[] Kl { get; }
    /// <summary>Teacher cross-entropy with the label at T=1 (0 on ignored rows).</summary>
    public float[] CeT { get; }
    /// <summary>Entropy of softmax(zt) at T=1.</summary>
    public float[] Ht { get; }
    /// <summary>Largest probability of softmax(zt) at T=1.</summary>
    public float[] Conf { get; }
    /// <summary>1 when the teacher's first argmax equals the label, else 0 (0 on ignored rows).</summary>
    public float[] Hit { get; }
    /// <summary>Cosine between the student projection and the teacher embedding.</summary>
    public float[] Cos { get; }
    /// <summary>Mean squared difference between student projection and teacher embedding.</summary>
    public float[] Mse { get; }
    /// <summary>log sum_c exp(zt/T): lets the gradient pass skip a max/sum sweep.</summary>
    public float[] LseT { get; }
    /// <summary>Student cross-entropy with the label (0 on ignored rows) [B].</summary>
    public float[] CeS { get; }
    /// <summary>Student log-sum-exp at T=1 [B].</summary>
    public float[] LseS1 { get; }
    /// <summary>Student log-sum-exp at T [B].</summary>
    public float[] LseST { get; }

    public DistillStats(DistillShape shape)
    {
        Shape = shape;
        int bk = shape.B * shape.K;
        Kl = new float[bk]; CeT = new float[bk]; Ht = new float[bk]; Conf = new float[bk];
        Hit = new float[bk]; Cos = new float[bk]; Mse = new float[bk]; LseT = new float[bk];
        CeS = new float[shape.B]; LseS1 = new float[shape.B]; LseST = new float[shape.B];
    }

    private DistillStats(DistillShape shape, DistillStats arrays)
    {
        Shape = shape;
        Kl = arrays.Kl; CeT = arrays.CeT; Ht = arrays.Ht; Conf = arrays.Conf;
        Hit = arrays.Hit; Cos = arrays.Cos; Mse = arrays.Mse; LseT = arrays.LseT;
        CeS = arrays.CeS; LseS1 = arrays.LseS1; LseST = arrays.LseST;
    }

    /// <summary>
    /// The same arrays under another shape of the same B and K (the statistics do not depend on C or D): what a step
    /// shows its strategy when its session computes the feature term apart (the dense step's per-image features).
    /// </summary>
    public DistillStats Reshaped(DistillShape shape)
    {
        if (shape.B != Shape.B || shape.K != Shape.K)
            throw new ArgumentException($"statistics of {Shape} cannot be seen as {shape}: B and K must stay");
        return new DistillStats(shape, this);
    }

    /// <summary>Every output with its name, in a fixed order (used by tests, bench and copies).</summary>
    public IEnumerable<(string Name, float[] Data)> Named()
    {
        yield return ("kl", Kl); yield return ("ce_t", CeT); yield return ("h_t", Ht);
        yield return ("conf", Conf); yield return ("hit", Hit); yield return ("cos", Cos);
        yield return ("mse", Mse); yield return ("lse_t", LseT); yield return ("ce_s", CeS);
        yield return ("lse_s1", LseS1); yield return ("lse_st", LseST);
    }

    public void Fill(float value)
    {
        foreach (var (_, a) in Named()) Array.Fill(a, value);
    }

    public void CopyTo(DistillStats dst)
    {
        foreach (var ((_, src), (_, d)) in Named().Zip(dst.Named())) src.AsSpan().CopyTo(d);
    }
}

/// <summary>Outputs of the gradient pass.</summary>
public sealed class DistillGrads
{
    public DistillShape Shape { get; }
    /// <summary>dL/dzs [B,C].</summary>
    public float[] Dzs { get; }
    /// <summary>dL/dfs [B,F].</summary>
    public float[] Dfs { get; }
    /// <summary>Each row's share of the loss, already divided by B' (0 on ignored rows) [B]; L = sum.</summary>
    public float[] RowLoss { get; }

    public DistillGrads(DistillShape shape)
    {
        Shape = shape;
        Dzs = new float[shape.B * shape.C];
        Dfs = new float[shape.B * shape.F];
        RowLoss = new float[shape.B];
    }

    /// <summary>The batch loss L, summed in float64.</summary>
    public double Loss()
    {
        double sum = 0;
        foreach (var v in RowLoss) sum += v;
        return sum;
    }

    public IEnumerable<(string Name, float[] Data)> Named()
    {
        yield return ("dzs", Dzs); yield return ("dfs", Dfs); yield return ("row_loss", RowLoss);
    }

    public void Fill(float value)
    {
        foreach (var (_, a) in Named()) Array.Fill(a, value);
    }

    public void CopyTo(DistillGrads dst)
    {
        foreach (var ((_, src), (_, d)) in Named().Zip(dst.Named())) src.AsSpan().CopyTo(d);
    }
}
