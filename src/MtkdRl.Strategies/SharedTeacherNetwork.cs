using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using MtkdRl.Core;

namespace MtkdRl.Strategies;

/// <summary>
/// The PPO agent's actor-critic: ONE small network applied to every (row, teacher) pair, so its size does not
/// depend on K. Teacher k of a row reads x_k = [its own features (F), the row's pooled features (F), the row's
/// scalar (1)]; h_k = softsign(W1 x_k + b1) = u / (1 + |u|); mu_k = wmu . h_k + bmu; the critic reads the
/// teachers' mean hidden layer, V = wv . mean_k h_k + bv. One learnt log sigma sits with the parameters so that the
/// optimiser, gradient clipping and checkpoints see a single vector:
/// W1 [In,H] input-major, b1 [H], wmu [H], bmu, wv [H], bv, log sigma; with the labels head also wlab [H], blab:
/// a (K+1)-th output mu_labels = wlab . mean_k h_k + blab, the logit of "trust the label" (it reads the pooled
/// hidden layer like the critic, so it too is the same for any K and teacher order).
/// <para>Hand-vectorised: per row the pooled part of W1 x (plus b1) is the same for all K teachers and is
/// computed once, and each teacher's hidden layer is one pass over H with the pre-activation in registers.</para>
/// </summary>
internal sealed class SharedTeacherNetwork
{
    private readonly int _h, _f, _in, _k;
    private readonly int _oW1, _oB1, _oMu, _oBMu, _oV, _oBV, _oLogStd, _oLab, _oBLab;
    private readonly bool _labels;

    // Per-row scratch: the pooled pre-activation (reused as its gradient), hidden layer [K,H], its mean, dL/dpre [K,H].
    private readonly float[] _ctx, _hid, _hMean, _dh;

    /// <param name="k">Teachers per row.</param>
    /// <param name="teacherFeatures">F, features per teacher (the pooled block has the same width).</param>
    /// <param name="hidden">H, width of the hidden layer.</param>
    /// <param name="labelsHead">Add the labels head (a (K+1)-th output).</param>
    public SharedTeacherNetwork(int k, int teacherFeatures, int hidden, bool labelsHead = false)
    {
        _labels = labelsHead;
        _k = k;
        _f = teacherFeatures;
        _in = 2 * teacherFeatures + 1;
        _h = hidden;
        _oW1 = 0; _oB1 = _oW1 + _in * _h; _oMu = _oB1 + _h; _oBMu = _oMu + _h;
        _oV = _oBMu + 1; _oBV = _oV + _h; _oLogStd = _oBV + 1;
        _oLab = _oLogStd + 1; _oBLab = _oLab + _h;
        Theta = new float[labelsHead ? _oBLab + 1 : _oLogStd + 1];
        Gradient = new float[Theta.Length];
        _ctx = new float[_h]; _hid = new float[k * _h]; _hMean = new float[_h]; _dh = new float[k * _h];
    }

    /// <summary>Inputs per (row, teacher): 2 F + 1.</summary>
    public int InputWidth => _in;

    public int Hidden => _h;

    /// <summary>Where the labels head's parameters start in <see cref="Theta"/> (its length without the head).</summary>
    public int LabelsOffset => _oLab;

    /// <summary>Where the labels head's bias sits in <see cref="Theta"/>.</summary>
    public int LabelsBiasIndex => _oBLab;

    /// <summary>Outputs per row: K, plus one with the labels head.</summary>
    public int Outputs => _labels ? _k + 1 : _k;

    /// <summary>Every parameter, in the layout of the class comment.</summary>
    public float[] Theta { get; }

    /// <summary>dL/dTheta, accumulated by <see cref="BackwardRow"/>.</summary>
    public float[] Gradient { get; }

    public float LogStd => Theta[_oLogStd];

    /// <summary>Adds to the gradient of log sigma.</summary>
    public void AddLogStdGradient(float g) => Gradient[_oLogStd] += g;

    /// <summary>
    /// torch's Linear default, U(+-1/sqrt(fan_in)), drawn in the order W1, b1, wmu, wv; the policy output starts
    /// 100x smaller so the first weights are close to uniform and exploration comes from sigma, as common PPO
    /// practice does. Biases of the two heads start at 0.
    /// </summary>
    /// <remarks>The labels head starts at wlab = 0 and blab = <paramref name="labelsLogit"/>, drawing nothing, so the
    /// other parameters (and the agent's random stream) are the same with or without it.</remarks>
    public void Initialise(Rng rng, float initialLogStd, float labelsLogit = 0f)
    {
        if (_labels) Theta[_oBLab] = labelsLogit;
        Fill(rng, _oW1, _in * _h, 1f / MathF.Sqrt(_in));
        Fill(rng, _oB1, _h, 1f / MathF.Sqrt(_in));
        Fill(rng, _oMu, _h, 0.01f / MathF.Sqrt(_h));
        Fill(rng, _oV, _h, 1f / MathF.Sqrt(_h));
        Theta[_oLogStd] = initialLogStd;
    }

    private void Fill(Rng rng, int offset, int n, float bound)
    {
        for (int i = 0; i < n; i++) Theta[offset + i] = (2f * rng.NextSingle() - 1f) * bound;
    }

    /// <summary>mu [K] (with the labels head [K+1]) and V of one row x [K,In], for acting (the hidden layer is not kept).</summary>
    public float Forward(ReadOnlySpan<float> x, Span<float> mu) => ForwardTeachers(x, mu, default);

    /// <summary>The same, keeping the hidden layer for <see cref="BackwardRow"/> on the same x.</summary>
    public float ForwardForBackward(ReadOnlySpan<float> x, Span<float> mu) => ForwardTeachers(x, mu, _hid);

    /// <summary>
    /// mu [K] and V of one row; _hMean gets the hidden layer's mean over teachers, <paramref name="hidden"/> (when
    /// not empty) the hidden layer [K,H]. The pooled inputs are the same for every teacher of the row, so their
    /// share of W1 x (plus b1) is computed once.
    /// </summary>
    private float ForwardTeachers(ReadOnlySpan<float> x, Span<float> mu, Span<float> hidden)
    {
        var theta = Theta.AsSpan();
        var w1 = theta.Slice(_oW1, _in * _h);
        var ctx = _ctx.AsSpan();
        theta.Slice(_oB1, _h).CopyTo(ctx);
        AddRowCombination(ctx, w1[(_f * _h)..], x[_f.._in]);
        var wmu = theta.Slice(_oMu, _h);
        float bmu = theta[_oBMu];
        var hMean = _hMean.AsSpan();
        hMean.Clear();
        for (int k = 0; k < _k; k++)
        {
            var h = hidden.IsEmpty ? default : hidden.Slice(k * _h, _h);
            mu[k] = TeacherHidden(ctx, w1, x.Slice(k * _in, _f), wmu, hMean, h) + bmu;
        }
        TensorPrimitives.Multiply(hMean, 1f / _k, hMean);
        if (_labels) mu[_k] = TensorPrimitives.Dot(hMean, theta.Slice(_oLab, _h)) + theta[_oBLab];
        return TensorPrimitives.Dot(hMean, theta.Slice(_oV, _h)) + theta[_oBV];
    }

    /// <summary>
    /// One teacher's hidden layer h = softsign(ctx + W1[:F]^T xk) = u / (1 + |u|) (tanh-shaped, bounded and smooth for
    /// one division, where the library tanh costs about 8 ns per value), returned as wmu . h; h is added into
    /// <paramref name="hSum"/> and stored in <paramref name="h"/> unless it is empty. One pass over H with the
    /// pre-activation kept in registers: at H = 32 the per-call overhead of library vector routines would
    /// cost more than the arithmetic.
    /// </summary>
    private float TeacherHidden(ReadOnlySpan<float> ctx, ReadOnlySpan<float> w1, ReadOnlySpan<float> xk, ReadOnlySpan<float> wmu,
        Span<float> hSum, Span<float> h)
    {
        int width = _h, j = 0;
        float dot = 0;
        bool store = !h.IsEmpty;
        if (Vector.IsHardwareAccelerated && ctx.Length >= width && w1.Length >= xk.Length * width && wmu.Length >= width
            && hSum.Length >= width && (!store || h.Length >= width))
        {
            // Lengths checked once above; every load and store below stays inside [0, H) of its span (w1: [0, F H)).
            ref float ctxRef = ref MemoryMarshal.GetReference(ctx);
            ref float wRef = ref MemoryMarshal.GetReference(w1);
            ref float muRef = ref MemoryMarshal.GetReference(wmu);
            ref float sumRef = ref MemoryMarshal.GetReference(hSum);
            ref float hRef = ref MemoryMarshal.GetReference(h);
            var acc = Vector<float>.Zero;
            for (; j <= width - Vector<float>.Count; j += Vector<float>.Count)
            {
                var pre = Vector.LoadUnsafe(ref ctxRef, (nuint)j);
                for (int i = 0; i < xk.Length; i++) pre += new Vector<float>(xk[i]) * Vector.LoadUnsafe(ref wRef, (nuint)(i * width + j));
                var hv = pre / (Vector<float>.One + Vector.Abs(pre));
                acc += hv * Vector.LoadUnsafe(ref muRef, (nuint)j);
                (Vector.LoadUnsafe(ref sumRef, (nuint)j) + hv).StoreUnsafe(ref sumRef, (nuint)j);
                if (store) hv.StoreUnsafe(ref hRef, (nuint)j);
            }
            dot = Vector.Sum(acc);
        }
        for (; j < width; j++)
        {
            float pre = ctx[j];
            for (int i = 0; i < xk.Length; i++) pre += xk[i] * w1[i * width + j];
            float hj = pre / (1f + MathF.Abs(pre));
            dot += hj * wmu[j];
            hSum[j] += hj;
            if (store) h[j] = hj;
        }
        return dot;
    }

    /// <summary>
    /// Backward of one row given dL/dmu [K] (with the labels head [K+1]) and dL/dV, after <see cref="ForwardForBackward"/> on the same x: adds
    /// into <see cref="Gradient"/>.
    /// </summary>
    public void BackwardRow(ReadOnlySpan<float> x, ReadOnlySpan<float> dmu, float dv)
    {
        var theta = Theta.AsSpan();
        var grad = Gradient.AsSpan();
        var wmu = theta.Slice(_oMu, _h);
        var wv = theta.Slice(_oV, _h);
        var gW1 = grad.Slice(_oW1, _in * _h);
        var gB1 = grad.Slice(_oB1, _h);
        TensorPrimitives.MultiplyAdd(_hMean, dv, grad.Slice(_oV, _h), grad.Slice(_oV, _h));
        grad[_oBV] += dv;
        float dvShare = dv / _k;
        if (_labels)
        {
            // The labels head reads mean_k h_k like the critic: its share reaches every teacher's hidden layer as dL/dh += wlab dmu_K / K.
            float dl = dmu[_k];
            TensorPrimitives.MultiplyAdd(_hMean, dl, grad.Slice(_oLab, _h), grad.Slice(_oLab, _h));
            grad[_oBLab] += dl;
        }
        float dlShare = _labels ? dmu[_k] / _k : 0f;
        var wlab = _labels ? theta.Slice(_oLab, _h) : default;
        var ctxGrad = _ctx.AsSpan(); // reused: sum over teachers of dL/dpre, for the pooled inputs
        ctxGrad.Clear();
        var gMu = grad.Slice(_oMu, _h);
        int vw = Vector.IsHardwareAccelerated ? Vector<float>.Count : int.MaxValue;
        for (int k = 0; k < _k; k++)
        {
            var h = _hid.AsSpan(k * _h, _h);
            var dh = _dh.AsSpan(k * _h, _h);
            float dm = dmu[k];
            grad[_oBMu] += dm;
            // One pass per teacher: dwmu += dmu h; dL/dpre = (wmu dmu + wv dV/K) softsign'(pre), with
            // softsign' = 1 / (1 + |pre|)^2 = (1 - |h|)^2; and its sum over teachers for the pooled inputs.
            int j = 0;
            if (vw <= _h)
            {
                var vdm = new Vector<float>(dm);
                var vdv = new Vector<float>(dvShare);
                var vdl = new Vector<float>(dlShare);
                for (; j <= _h - vw; j += vw)
                {
                    var hv = new Vector<float>(h[j..]);
                    (new Vector<float>(gMu[j..]) + hv * vdm).CopyTo(gMu[j..]);
                    var g = Vector<float>.One - Vector.Abs(hv);
                    var d = _labels
                        ? (new Vector<float>(wmu[j..]) * vdm + new Vector<float>(wv[j..]) * vdv + new Vector<float>(wlab[j..]) * vdl) * (g * g)
                        : (new Vector<float>(wmu[j..]) * vdm + new Vector<float>(wv[j..]) * vdv) * (g * g);
                    d.CopyTo(dh[j..]);
                    (new Vector<float>(ctxGrad[j..]) + d).CopyTo(ctxGrad[j..]);
                }
            }
            for (; j < _h; j++)
            {
                gMu[j] += h[j] * dm;
                float g = 1f - MathF.Abs(h[j]);
                dh[j] = _labels ? (wmu[j] * dm + wv[j] * dvShare + wlab[j] * dlShare) * (g * g) : (wmu[j] * dm + wv[j] * dvShare) * (g * g);
                ctxGrad[j] += dh[j];
            }
            AddOuterProduct(gW1, x.Slice(k * _in, _f), dh);
        }
        // The pooled inputs and b1 are the same for all K teachers of the row: one multiply-add each.
        TensorPrimitives.Add(gB1, ctxGrad, gB1);
        AddOuterProduct(gW1[(_f * _h)..], x[_f.._in], ctxGrad);
    }

    /// <summary>acc += sum_i x[i] w[i,:] for w [x.Length, H] row-major: the first layer's product, one vector
    /// of H accumulated in registers (H is small), instead of one library call per input.</summary>
    private void AddRowCombination(Span<float> acc, ReadOnlySpan<float> w, ReadOnlySpan<float> x)
    {
        int h = _h, j = 0;
        if (Vector.IsHardwareAccelerated && w.Length >= x.Length * h && acc.Length >= h)
        {
            // Bounds checked once above; the loads below stay inside w[0, x.Length * H) and acc[0, H).
            ref float wRef = ref MemoryMarshal.GetReference(w);
            ref float accRef = ref MemoryMarshal.GetReference(acc);
            for (; j <= h - Vector<float>.Count; j += Vector<float>.Count)
            {
                var sum = Vector.LoadUnsafe(ref accRef, (nuint)j);
                for (int i = 0; i < x.Length; i++) sum += new Vector<float>(x[i]) * Vector.LoadUnsafe(ref wRef, (nuint)(i * h + j));
                sum.StoreUnsafe(ref accRef, (nuint)j);
            }
        }
        for (; j < h; j++)
        {
            float sum = acc[j];
            for (int i = 0; i < x.Length; i++) sum += x[i] * w[i * h + j];
            acc[j] = sum;
        }
    }

    /// <summary>g[i,:] += x[i] d for g [x.Length, H] row-major (the first layer's weight gradient).</summary>
    private void AddOuterProduct(Span<float> g, ReadOnlySpan<float> x, ReadOnlySpan<float> d)
    {
        int h = _h;
        for (int i = 0; i < x.Length; i++)
        {
            float xi = x[i];
            if (xi == 0) continue;
            var row = g.Slice(i * h, h);
            int j = 0;
            if (Vector.IsHardwareAccelerated)
            {
                var s = new Vector<float>(xi);
                for (; j <= h - Vector<float>.Count; j += Vector<float>.Count)
                    (new Vector<float>(row[j..]) + s * new Vector<float>(d[j..])).CopyTo(row[j..]);
            }
            for (; j < h; j++) row[j] += xi * d[j];
        }
    }
}
