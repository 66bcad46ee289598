using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>
/// Channel-wise distillation of a dense student's logit maps (Shu et al., "Channel-wise Knowledge Distillation for
/// Dense Prediction", ICCV 2021), as a third session of the fused op. Where pixel KD compares each pixel's class
/// distribution, this compares each class channel's spatial distribution: for image n and class c,
/// <code>
///   q[n,c,p] = softmax over the P pixels of z[n,c,p] / tau        (student: s; teacher k: t_k)
///   L_cw = lambda / (N' (C+1)) sum_n sum_c sum_k w[n,k] tau^2 KL(q_tk[n,c,.] || q_s[n,c,.])
/// </code>
/// which is the op's weighted KD term on R = N*(C+1) rows of P columns: row n*(C+1) + c is channel c of image n, the
/// student's [N, C+1, P] maps read as rows as they lie. The op runs with a_ce = 0 (its label 0 on each row only
/// marks the row valid; an image with no valid pixel is left out, label -1), beta = 0 and the step's divergence;
/// N' counts the images with a valid pixel. w[n,k] is image n's teacher weight: the mean of wl over its valid pixels,
/// which is the image's weight itself under per-image weighting. Every pixel takes part, ignored ones too: the
/// maps are the networks' outputs there as well.
/// </summary>
internal sealed class ChannelDistillation : IDisposable
{
    private readonly OpSession _session;
    private readonly float[] _maps;

    public ChannelDistillation(IDistillBackend backend, int images, int classes, int pixels, int teachers, DistillHyper stepHyper,
        float weight, float temperature)
    {
        if (!(weight > 0) || !float.IsFinite(weight)) throw new MtkdInputException($"channel-wise KD weight must be positive and finite (got {weight})");
        if (!(temperature > 0) || !float.IsFinite(temperature)) throw new MtkdInputException($"channel-wise KD temperature must be positive and finite (got {temperature})");
        Images = images;
        Classes = classes;
        Pixels = pixels;
        Teachers = teachers;
        long rows = (long)images * classes;
        if (rows * pixels > Array.MaxLength) throw new MtkdInputException($"{images} images of {classes} x {pixels} are too many for one channel-wise step");
        var shape = new DistillShape((int)rows, pixels, Enumerable.Repeat(backend.SupportsFeaturelessTeachers ? 0 : 1, teachers).ToArray());
        var hyper = stepHyper with { Temperature = temperature, ACe = 0f, AKd = weight, Beta = 0f };
        _session = new OpSession(backend, shape, hyper);
        _maps = new float[(int)rows * pixels];
    }

    public int Images { get; }

    /// <summary>C+1: the channels of a logit map, background included.</summary>
    public int Classes { get; }

    public int Pixels { get; }

    public int Teachers { get; }

    /// <summary>The last pass's loss: lambda times the weighted channel KL, averaged over the valid channel rows.</summary>
    public double Loss { get; private set; }

    /// <summary>
    /// One fused pass: the student's and teachers' pixel rows ([N*P, C+1] and [K, N*P, C+1]) as channel rows, each
    /// image's weight from the pixel weights <paramref name="wl"/> [N*P, K] over its valid pixels (labels -1 ignored),
    /// and the gradient added to <paramref name="dzs"/> [N*P, C+1], the pixel rows' dL/dzs.
    /// </summary>
    public void Run(ReadOnlySpan<float> zs, ReadOnlySpan<float> zt, ReadOnlySpan<int> labels, ReadOnlySpan<float> wl, Span<float> dzs)
    {
        int N = Images, C = Classes, P = Pixels, K = Teachers;
        long block = (long)N * P * C;
        if (zs.Length != block || zt.Length != K * block || labels.Length != N * P || wl.Length != N * P * K || dzs.Length != block)
            throw new ArgumentException($"channel-wise KD: buffers do not match {N} images x {P} pixels x {C} classes x {K} teachers");
        var inputs = _session.Inputs;
        PixelRows.FromRows(zs, N, C, P, inputs.Zs);
        for (int k = 0; k < K; k++)
            PixelRows.FromRows(zt.Slice((int)(k * block), (int)block), N, C, P, inputs.Zt.AsSpan((int)(k * block), (int)block));
        Span<double> sums = K <= 64 ? stackalloc double[K] : new double[K];
        for (int n = 0; n < N; n++)
        {
            int valid = ValidRowSums.Of(wl, labels, n, P, sums);
            for (int c = 0; c < C; c++)
            {
                int row = n * C + c;
                inputs.Y[row] = valid > 0 ? 0 : -1;
                for (int k = 0; k < K; k++) inputs.Wl[row * K + k] = valid > 0 ? (float)(sums[k] / valid) : 0f;
            }
        }
        Array.Clear(inputs.Wf);
        _session.RunFused();
        Loss = _session.Grads.Loss();
        PixelRows.ToRows(_session.Grads.Dzs.AsSpan(0, (int)block), N, C, P, _maps);
        for (int i = 0; i < dzs.Length; i++) dzs[i] += _maps[i];
    }

    public void Dispose() => _session.Dispose();
}
