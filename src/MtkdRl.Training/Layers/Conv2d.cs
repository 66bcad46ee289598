namespace MtkdRl.Training;

/// <summary>
/// 2-D convolution, square kernel, stride and zero padding, NCHW: x [B, Cin, H, W], W [Cout, Cin, k, k],
/// b [Cout], y [B, Cout, Ho, Wo] with y[s, co, oy, ox] = b[co] + sum_{ci,ky,kx} W[co, ci, ky, kx]
/// x[s, ci, oy*stride + ky - pad, ox*stride + kx - pad].
/// <para>
/// Computed as im2col + GEMM (<see cref="Im2Col"/>) over chunks of samples whose patch matrix fits in
/// cache, so the GEMM stays large (n*P columns) while the patch matrix is never built for the whole
/// batch. Backward rebuilds each chunk's patches instead of keeping them: one more gather costs less
/// than writing and re-reading Cin*k*k copies of the input.
///   dW = sum over chunks of dY2 col^T,  db = row sums of dY2,  dcol = W^T dY2  then col2im into dx,
/// where dY2 [Cout, n*P] is dy regrouped like the forward product.
/// </para>
/// </summary>
public sealed class Conv2d : Layer
{
    /// <summary>Target size of one chunk's patch matrix in floats (4 MiB): large GEMMs, patches still in cache.</summary>
    internal const int DefaultChunkFloats = 1 << 20;

    private readonly CpuCompute _compute;
    private readonly ConvGeometry _geometry;
    private readonly BatchBuffer<float> _output, _gradInput;
    private readonly float[] _col, _product, _gradCol;
    private readonly int _chunk;
    private float[] _input = [];

    public Conv2d(string name, SampleShape input, int outChannels, int kernel, CpuCompute compute, int stride = 1,
        int padding = 0, bool bias = true)
        : this(name, new ConvGeometry(name, input, kernel, stride, padding), outChannels, compute, bias, DefaultChunkFloats)
    {
    }

    /// <summary>As the public constructor, with the chunk target given (tests force several chunks on small inputs).</summary>
    internal Conv2d(string name, SampleShape input, int outChannels, int kernel, CpuCompute compute, int stride, int padding,
        bool bias, int chunkFloats)
        : this(name, new ConvGeometry(name, input, kernel, stride, padding), outChannels, compute, bias, chunkFloats)
    {
    }

    private Conv2d(string name, ConvGeometry geometry, int outChannels, CpuCompute compute, bool bias, int chunkFloats)
        : base(name, geometry.Input, new SampleShape(outChannels, geometry.OutHeight, geometry.OutWidth))
    {
        _compute = compute;
        _geometry = geometry;
        OutChannels = outChannels;
        Weight = new Parameter($"{name}.weight", [outChannels, geometry.Input.Channels, geometry.Kernel, geometry.Kernel], decay: true);
        Bias = bias ? new Parameter($"{name}.bias", [outChannels], decay: false) : null;
        Parameters = Bias is null ? [Weight] : [Weight, Bias];
        _output = new BatchBuffer<float>(OutputShape.Size);
        _gradInput = new BatchBuffer<float>(InputShape.Size);
        long patchesPerSample = (long)geometry.PatchSize * geometry.OutPlane;
        _chunk = (int)Math.Max(1, chunkFloats / patchesPerSample);
        _col = new float[patchesPerSample * _chunk];
        _gradCol = new float[_col.Length];
        _product = new float[(long)outChannels * geometry.OutPlane * _chunk];
    }

    public int OutChannels { get; }

    /// <summary>Samples per im2col chunk.</summary>
    internal int ChunkSamples => _chunk;
    public int Kernel => _geometry.Kernel;
    public int Stride => _geometry.Stride;
    public int Padding => _geometry.Padding;
    public Parameter Weight { get; }
    public Parameter? Bias { get; }
    public override IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>The chunk last gathered into _col, so a single-chunk batch skips the regather in Backward.</summary>
    private int _colChunkStart = -1;

    protected override float[] ForwardCore(float[] input, int batch, bool training)
    {
        _input = input;
        var y = _output.Rows(batch);
        int P = _geometry.OutPlane, K = _geometry.PatchSize, Cout = OutChannels;
        for (int start = 0; start < batch; start += _chunk)
        {
            int n = Math.Min(_chunk, batch - start), columns = n * P;
            GatherChunk(start, n);
            _compute.Gemm.Sgemm(false, false, Cout, columns, K, 1f, Weight.Value, K, _col, columns, 0f, _product, columns);
            // [Cout, n*P] -> [n, Cout, P], adding the bias on the way.
            var product = _product;
            var biasValues = Bias?.Value;
            _compute.For(n, (long)Cout * P, (s0, s1) =>
            {
                for (int s = s0; s < s1; s++)
                {
                    for (int co = 0; co < Cout; co++)
                    {
                        var src = product.AsSpan(co * columns + s * P, P);
                        var dst = y.AsSpan(((start + s) * Cout + co) * P, P);
                        if (biasValues is null) src.CopyTo(dst);
                        else System.Numerics.Tensors.TensorPrimitives.Add(src, biasValues[co], dst);
                    }
                }
            });
        }
        return y;
    }

    protected override float[]? BackwardCore(float[] gradOutput, bool inputGradient)
    {
        int batch = Batch, P = _geometry.OutPlane, K = _geometry.PatchSize, Cout = OutChannels;
        float[]? dx = null;
        if (inputGradient)
        {
            dx = _gradInput.Rows(batch);
            dx.AsSpan(0, batch * InputShape.Size).Clear();
        }
        Bias?.Grad.AsSpan().Clear();
        for (int start = 0; start < batch; start += _chunk)
        {
            int n = Math.Min(_chunk, batch - start), columns = n * P;
            if (_colChunkStart != start || batch > _chunk) GatherChunk(start, n);
            // dy [n, Cout, P] -> dY2 [Cout, n*P].
            var product = _product;
            _compute.For(Cout, (long)n * P, (c0, c1) =>
            {
                for (int co = c0; co < c1; co++)
                    for (int s = 0; s < n; s++)
                        gradOutput.AsSpan(((start + s) * Cout + co) * P, P).CopyTo(product.AsSpan(co * columns + s * P, P));
            });
            _compute.Gemm.Sgemm(false, true, Cout, K, columns, 1f, _product, columns, _col, columns, start == 0 ? 0f : 1f,
                Weight.Grad, K);
            if (Bias is not null)
                for (int co = 0; co < Cout; co++)
                    Bias.Grad[co] += System.Numerics.Tensors.TensorPrimitives.Sum(_product.AsSpan(co * columns, columns));
            if (dx is null) continue;
            _compute.Gemm.Sgemm(true, false, K, columns, Cout, 1f, Weight.Value, K, _product, columns, 0f, _gradCol, columns);
            var gradCol = _gradCol;
            var geometry = _geometry;
            var dxChunk = dx;
            int sampleSize = InputShape.Size;
            _compute.For(InputShape.Channels, (long)n * sampleSize, (c0, c1) =>
                Im2Col.Scatter(gradCol, n, geometry, dxChunk.AsSpan(start * sampleSize, n * sampleSize), c0, c1));
        }
        _colChunkStart = -1;
        return dx;
    }

    private void GatherChunk(int start, int n)
    {
        var col = _col;
        var input = _input;
        var geometry = _geometry;
        int sampleSize = InputShape.Size;
        _compute.For(geometry.PatchSize, (long)n * geometry.OutPlane, (r0, r1) =>
            Im2Col.Gather(input.AsSpan(start * sampleSize, n * sampleSize), n, geometry, col, r0, r1));
        _colChunkStart = start;
    }
}
