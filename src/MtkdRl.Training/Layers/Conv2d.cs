using System.Numerics.Tensors;

namespace MtkdRl.Training;

/// <summary>
/// 2-D convolution, square kernel, stride and zero padding, NCHW: x [B, Cin, H, W], W [Cout, Cin, k, k],
/// b [Cout], y [B, Cout, Ho, Wo] with y[s, co, oy, ox] = b[co] + sum_{ci,ky,kx} W[co, ci, ky, kx]
/// x[s, ci, oy*stride + ky - pad, ox*stride + kx - pad].
/// <para>
/// Computed as im2col + GEMM (<see cref="Im2Col"/>): the batch is shared among the workers, and each
/// worker walks its samples in chunks whose patch matrix fits in cache, with its own single-threaded GEMM
/// and buffers, so the whole layer is one parallel region. Per chunk of n samples (P = Ho*Wo):
///   forward   Y2 [Cout, n*P] = W [Cout, K] col [K, n*P], then regrouped to [n, Cout, P] plus the bias;
///   backward  dY2 = dy regrouped like Y2;  dW += dY2 col^T;  db += row sums of dY2;
///             dcol = W^T dY2, then col2im into dx.
/// Backward rebuilds each chunk's patches instead of keeping them (unless a worker's samples fit in one
/// chunk, which is then still in place): one more gather costs less than writing and re-reading Cin*k*k
/// copies of the input. Each worker accumulates its own dW and db; they are summed at the end.
/// </para>
/// </summary>
public sealed class Conv2d : Layer
{
    /// <summary>Target size of one chunk's patch matrix in floats (2 MiB): large GEMMs, patches still in cache.</summary>
    internal const int DefaultChunkFloats = 1 << 19;

    private readonly CpuCompute _compute;
    private readonly ConvGeometry _geometry;
    private readonly BatchBuffer<float> _output, _gradInput;
    private readonly WorkerBuffers[] _workers;
    private readonly int _chunk;
    private float[] _input = [];

    /// <summary>One worker's scratch: the patch matrix, the GEMM product, the patch gradient and its dW, db.</summary>
    private sealed class WorkerBuffers(long colFloats, long productFloats, int weightFloats, int outChannels)
    {
        public readonly float[] Col = new float[colFloats];
        public readonly float[] GradCol = new float[colFloats];
        public readonly float[] Product = new float[productFloats];
        public readonly float[] GradWeight = new float[weightFloats];
        public readonly float[] GradBias = new float[outChannels];

        /// <summary>First sample of the chunk now in <see cref="Col"/> (-1: none).</summary>
        public int ColStart = -1;
        public int ColCount;
    }

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
        _workers = new WorkerBuffers[compute.Threads];
        for (int w = 0; w < _workers.Length; w++)
            _workers[w] = new WorkerBuffers(patchesPerSample * _chunk, (long)outChannels * geometry.OutPlane * _chunk, Weight.Size, outChannels);
    }

    public int OutChannels { get; }
    public int Kernel => _geometry.Kernel;
    public int Stride => _geometry.Stride;
    public int Padding => _geometry.Padding;
    public Parameter Weight { get; }
    public Parameter? Bias { get; }
    public override IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>Samples per im2col chunk.</summary>
    internal int ChunkSamples => _chunk;

    /// <summary>Workers worth starting: about two chunks' worth of samples each, at most one per thread.</summary>
    private long Parts(int batch) => Math.Max(1, (batch + _chunk - 1) / _chunk);

    protected override float[] ForwardCore(float[] input, int batch, bool training)
    {
        _input = input;
        var y = _output.Rows(batch);
        foreach (var w in _workers) w.ColStart = -1;
        _compute.ForWorkers(batch, Parts(batch), (worker, first, last) =>
        {
            var buffers = _workers[worker];
            var gemm = _compute.WorkerGemm(worker);
            int P = _geometry.OutPlane, K = _geometry.PatchSize, Cout = OutChannels;
            for (int start = first; start < last; start += _chunk)
            {
                int n = Math.Min(_chunk, last - start), columns = n * P;
                Gather(buffers, start, n);
                gemm.Sgemm(false, false, Cout, columns, K, 1f, Weight.Value, K, buffers.Col, columns, 0f, buffers.Product, columns);
                for (int s = 0; s < n; s++)
                {
                    for (int co = 0; co < Cout; co++)
                    {
                        var src = buffers.Product.AsSpan(co * columns + s * P, P);
                        var dst = y.AsSpan(((start + s) * Cout + co) * P, P);
                        if (Bias is null) src.CopyTo(dst);
                        else TensorPrimitives.Add(src, Bias.Value[co], dst);
                    }
                }
            }
        });
        return y;
    }

    protected override float[]? BackwardCore(float[] gradOutput, bool inputGradient)
    {
        int batch = Batch;
        float[]? dx = inputGradient ? _gradInput.Rows(batch) : null;
        long parts = Parts(batch);
        foreach (var w in _workers)
        {
            Array.Clear(w.GradWeight);
            Array.Clear(w.GradBias);
        }
        _compute.ForWorkers(batch, parts, (worker, first, last) =>
        {
            var buffers = _workers[worker];
            var gemm = _compute.WorkerGemm(worker);
            int P = _geometry.OutPlane, K = _geometry.PatchSize, Cout = OutChannels, sampleSize = InputShape.Size;
            if (dx is not null) dx.AsSpan(first * sampleSize, (last - first) * sampleSize).Clear();
            for (int start = first; start < last; start += _chunk)
            {
                int n = Math.Min(_chunk, last - start), columns = n * P;
                if (buffers.ColStart != start || buffers.ColCount != n) Gather(buffers, start, n);
                // dy [n, Cout, P] -> dY2 [Cout, n*P].
                for (int co = 0; co < Cout; co++)
                    for (int s = 0; s < n; s++)
                        gradOutput.AsSpan(((start + s) * Cout + co) * P, P).CopyTo(buffers.Product.AsSpan(co * columns + s * P, P));
                gemm.Sgemm(false, true, Cout, K, columns, 1f, buffers.Product, columns, buffers.Col, columns, 1f, buffers.GradWeight, K);
                if (Bias is not null)
                    for (int co = 0; co < Cout; co++) buffers.GradBias[co] += TensorPrimitives.Sum(buffers.Product.AsSpan(co * columns, columns));
                if (dx is null) continue;
                gemm.Sgemm(true, false, K, columns, Cout, 1f, Weight.Value, K, buffers.Product, columns, 0f, buffers.GradCol, columns);
                Im2Col.Scatter(buffers.GradCol, n, _geometry, dx.AsSpan(start * sampleSize, n * sampleSize), 0, InputShape.Channels);
            }
            buffers.ColStart = -1;
        });
        int used = (int)Math.Min(Math.Min(parts, _compute.Threads), batch);
        _workers[0].GradWeight.CopyTo(Weight.Grad, 0);
        for (int w = 1; w < used; w++) TensorPrimitives.Add(Weight.Grad, _workers[w].GradWeight, Weight.Grad);
        if (Bias is not null)
        {
            _workers[0].GradBias.CopyTo(Bias.Grad, 0);
            for (int w = 1; w < used; w++) TensorPrimitives.Add(Bias.Grad, _workers[w].GradBias, Bias.Grad);
        }
        return dx;
    }

    private void Gather(WorkerBuffers buffers, int start, int n)
    {
        int sampleSize = InputShape.Size;
        Im2Col.Gather(_input.AsSpan(start * sampleSize, n * sampleSize), n, _geometry, buffers.Col, 0, _geometry.PatchSize);
        buffers.ColStart = start;
        buffers.ColCount = n;
    }
}
