using System.Numerics;
using System.Runtime.InteropServices;
using System.Numerics.Tensors;
using MathNet.Numerics.Statistics;
using MtkdRl.Core;

namespace MtkdRl.Strategies;

/// <summary>Where the PPO agent's reward comes from.</summary>
public enum PpoRewardKind
{
    /// <summary>The paper's per-row reward -(CEs + sum wl KL + beta sum wf mse), z-scored over the batch.</summary>
    Paper,

    /// <summary>The student's loss on a held-out probe batch before the step minus after it, one value for every row
    /// of the batch, divided by the running standard deviation of that improvement.</summary>
    Probe,

    /// <summary>How well the weighted teachers know the row's label: -sum_k wl[b,k] CEt[b,k], z-scored over the
    /// batch. Unlike the paper's reward it cannot be raised by leaning on the teachers the student already imitates
    /// (small KL), only on the teachers that are right.</summary>
    TeacherFit,
}

/// <summary>Every setting of the PPO agent; the defaults are the ones the tests and the benchmark use.</summary>
public sealed record PpoConfig
{
    /// <summary>Width of the one hidden layer (softsign) of the shared per-teacher network.</summary>
    public int Hidden { get; init; } = 16;

    /// <summary>Adam step size at the start of training.</summary>
    public float LearningRate { get; init; } = 3e-3f;

    /// <summary>Adam first-moment decay.</summary>
    public float AdamBeta1 { get; init; } = 0.9f;

    /// <summary>Adam second-moment decay.</summary>
    public float AdamBeta2 { get; init; } = 0.999f;

    /// <summary>Adam denominator guard (1e-5 as common PPO code uses, larger than Adam's 1e-8 for steadier early steps).</summary>
    public float AdamEpsilon { get; init; } = 1e-5f;

    /// <summary>Anneal the learning rate linearly towards 0 over this many epochs (0: constant).</summary>
    public int AnnealEpochs { get; init; }

    /// <summary>Initial log standard deviation of the Gaussian over weight logits (one learnt scalar shared by all teachers).</summary>
    public float InitialLogStd { get; init; } = -0.5f;

    /// <summary>PPO ratio clip epsilon: the surrogate ignores gains beyond ratio 1 +- this.</summary>
    public float ClipRange { get; init; } = 0.2f;

    /// <summary>Value clip: the new value may move at most this far from the rollout's value before its loss stops
    /// shrinking (0 turns value clipping off).</summary>
    public float ValueClipRange { get; init; } = 0.2f;

    /// <summary>Weight of the value loss in the joint loss.</summary>
    public float ValueCoefficient { get; init; } = 0.5f;

    /// <summary>Weight of the entropy bonus (per teacher logit, so its pull does not grow with K).</summary>
    public float EntropyCoefficient { get; init; } = 1e-3f;

    /// <summary>Discount of GAE. Each row's choice is a one-step episode, so A = r - V whatever the value; kept for
    /// rollouts that chain decisions.</summary>
    public float Gamma { get; init; } = 0.99f;

    /// <summary>GAE lambda (see <see cref="Gamma"/>).</summary>
    public float Lambda { get; init; } = 0.95f;

    /// <summary>Rows collected before each update.</summary>
    public int RolloutRows { get; init; } = 512;

    /// <summary>Rows of each batch kept for learning (chosen at random among counted rows); every row still gets
    /// sampled weights. Bounds the learning cost per batch whatever B is.</summary>
    public int RowsPerBatch { get; init; } = 8;

    /// <summary>Passes over the rollout per update.</summary>
    public int UpdateEpochs { get; init; } = 4;

    /// <summary>Rows per minibatch.</summary>
    public int MinibatchRows { get; init; } = 128;

    /// <summary>Gradients with a larger global L2 norm are scaled down to it.</summary>
    public float MaxGradNorm { get; init; } = 0.5f;

    /// <summary>Stop an update early when a minibatch's approximate KL exceeds 1.5 x this (null: never).</summary>
    public float? TargetKl { get; init; }

    /// <summary>Mix the policy's weights with the paper's fixed terms: wl = (softmax(a) + c + softmax(KL))/3 and
    /// wf = (softmax(a) + c + softmax(cos))/3 with c the ca-mkd weights. Off: wl = wf = softmax(a).</summary>
    public bool MixWithPaperTerms { get; init; }

    /// <summary>Reward source. TeacherFit by default: on Fashion-MNIST the paper's reward taught the policy to lean on the
    /// teachers closest to the student (lowest KL) and cost accuracy; see docs/STRATEGIES.md.</summary>
    public PpoRewardKind Reward { get; init; } = PpoRewardKind.TeacherFit;

    /// <summary>Clamp the z-scored paper reward to [0, 1] as the paper agent does (off: the full signed signal).</summary>
    public bool ClampPaperReward { get; init; }

    /// <summary>Normalised inputs are clipped to +- this many standard deviations.</summary>
    public float ObservationClip { get; init; } = 5f;

    internal void Check()
    {
        bool ok = Hidden >= 1 && LearningRate > 0 && AdamBeta1 is >= 0 and < 1 && AdamBeta2 is >= 0 and < 1 && AdamEpsilon > 0
            && AnnealEpochs >= 0 && float.IsFinite(InitialLogStd) && ClipRange > 0 && ValueClipRange >= 0 && ValueCoefficient >= 0
            && EntropyCoefficient >= 0 && Gamma is >= 0 and <= 1 && Lambda is >= 0 and <= 1 && RolloutRows >= 2
            && RowsPerBatch >= 1 && UpdateEpochs >= 1 && MinibatchRows >= 2 && MaxGradNorm > 0 && (TargetKl is null or > 0)
            && ObservationClip > 0;
        if (!ok) throw new MtkdInputException($"strategy {PpoAgent.CatalogName}: a PPO setting is out of range ({this})");
    }
}

/// <summary>
/// "mtkd-rl-ppo": a PPO actor-critic that picks per-row teacher weights.
/// <para>Policy. Each (row b, teacher k) is scored by ONE shared network whose input is that teacher's statistics
/// z[b,k] = normalised [KL, CEt, Ht, conf, hit, cos, mse] (running mean/std, clipped), the pooled context
/// mean_k z[b,k], and the student's normalised CEs[b] (15 inputs): h = softsign(W1 x + b1) = u / (1 + |u|), mu[b,k] = wmu.h + bmu.
/// Actions are weight logits a[b,k] ~ N(mu[b,k], sigma^2) with one learnt log sigma; weights = softmax_k(a[b,:])
/// (optionally mixed with the paper's fixed terms). Nothing depends on K or on teacher order: K=4 and K=64 have
/// the same parameters, and permuting teachers permutes the weights.</para>
/// <para>Critic. V[b] = wv . mean_k h[b,k] + bv, the same trunk pooled over teachers.</para>
/// <para>Learning. A random subset of each batch's rows goes into a rollout; once it holds RolloutRows rows,
/// GAE gives advantages (each row is a one-step episode, so A = r - V) and returns R = A + V; then UpdateEpochs
/// passes of shuffled minibatches minimise
///   L = -mean min(rho A', clip(rho, 1-eps, 1+eps) A') + c_v 0.5 mean max((V-R)^2, (V_clip-R)^2) - c_e H
/// with rho = exp(logp_new - logp_old) (log-probabilities summed over the row's K logits), A' the advantage
/// normalised per minibatch, V_clip = V_old + clip(V - V_old, +-eps_v), H the entropy per logit; the gradient is
/// clipped to MaxGradNorm and Adam takes the step, with the learning rate annealed per epoch.</para>
/// <para>Cost. The hot path is allocation-free: per row the pooled part of W1 x is computed once and shared by
/// the K teachers, so acting on a batch costs about B K (7 + 1) H multiply-adds plus B K Gaussian samples; learning
/// costs about 3 x that per rollout row and pass, and only RowsPerBatch rows of each batch join the rollout, so
/// it does not grow with B. The defaults keep the agent within a few per cent of an aver epoch (docs/STRATEGIES.md).</para>
/// </summary>
public sealed class PpoAgent : IWeightingStrategy
{
    public const string CatalogName = "mtkd-rl-ppo";

    /// <summary>Per-teacher statistics the policy reads.</summary>
    public const int TeacherFeatures = 7;

    /// <summary>Network input: teacher features, their mean over teachers, and the student's CEs.</summary>
    public const int InputWidth = 2 * TeacherFeatures + 1;

    private const int Channels = TeacherFeatures + 1;
    private static readonly float HalfLog2Pi = 0.5f * MathF.Log(2f * MathF.PI);

    private readonly PpoConfig _config;
    private readonly int _h;
    private readonly Rng _rng;

    // All parameters in one vector (so Adam, clipping and checkpoints see one array):
    // W1 [In,H] input-major, b1 [H], wmu [H], bmu, wv [H], bv, log sigma.
    private readonly float[] _theta, _grad, _adamM, _adamV;
    private readonly int _oW1, _oB1, _oMu, _oBMu, _oV, _oBV, _oLogStd;
    private long _adamStep;

    // Running mean / M2 / count per input channel (7 teacher features + CEs), float64 so long runs stay exact.
    private readonly double[] _normMean = new double[Channels], _normM2 = new double[Channels], _normCount = new double[Channels];
    private readonly float[] _normShift = new float[Channels], _normScale = new float[Channels];

    // Rollout: normalised inputs [R,K,In], actions [R,K], old log-prob, old value, reward [R].
    private readonly float[] _rollX, _rollA, _rollLogP, _rollV, _rollR, _adv, _ret;
    private readonly bool[] _done;
    private int _filled;

    // Per-batch scratch, grown to the largest B seen.
    private float[] _x = [], _deviation = [], _z = [], _noise = [], _mu = [], _act = [], _logp = [], _val = [], _usedWl = [], _usedWf = [], _reward = [];
    private int[] _pendingRows = [], _counted = [];
    private int _pendingCount, _pendingB;
    private bool _pending;

    // Per-row scratch of the network.
    private readonly float[] _ctx, _hid, _hMean, _dh, _rowTerms;
    private readonly int[] _perm;

    private int _epochs;
    private long _updates;
    private double _probeCount, _probeMean, _probeM2;

    public PpoAgent(int k, PpoConfig config, ulong seed)
    {
        if (k < 1) throw new MtkdInputException($"strategy {CatalogName}: teacher count must be at least 1 (got {k})");
        config.Check();
        K = k;
        _config = config;
        _h = config.Hidden;
        _rng = new Rng(seed);
        _oW1 = 0; _oB1 = _oW1 + InputWidth * _h; _oMu = _oB1 + _h; _oBMu = _oMu + _h;
        _oV = _oBMu + 1; _oBV = _oV + _h; _oLogStd = _oBV + 1;
        int n = _oLogStd + 1;
        _theta = new float[n]; _grad = new float[n]; _adamM = new float[n]; _adamV = new float[n];
        Initialise();

        int r = config.RolloutRows;
        _rollX = new float[r * k * InputWidth]; _rollA = new float[r * k];
        _rollLogP = new float[r]; _rollV = new float[r]; _rollR = new float[r]; _adv = new float[r]; _ret = new float[r];
        _done = new bool[r];
        Array.Fill(_done, true);
        _perm = new int[r];
        _ctx = new float[_h]; _hid = new float[k * _h]; _hMean = new float[_h];
        _dh = new float[k * _h]; _rowTerms = new float[3 * k];
        Array.Fill(_normScale, 1f);
    }

    public string Name => CatalogName;
    public int K { get; }
    public bool IsAgent => true;
    public bool NeedsStats => true;
    public bool NeedsTeacherOutputs => false;
    public PpoConfig Config => _config;

    /// <summary>Learnt parameters; independent of K.</summary>
    public int ParameterCount => _theta.Length;

    /// <summary>Current standard deviation of the logit noise.</summary>
    public float Sigma => MathF.Exp(_theta[_oLogStd]);

    private void Initialise()
    {
        // torch's Linear default, U(+-1/sqrt(fan_in)); the policy output starts 100x smaller so the first
        // weights are close to uniform and exploration comes from sigma, as common PPO practice does.
        Fill(_oW1, InputWidth * _h, 1f / MathF.Sqrt(InputWidth));
        Fill(_oB1, _h, 1f / MathF.Sqrt(InputWidth));
        Fill(_oMu, _h, 0.01f / MathF.Sqrt(_h));
        Fill(_oV, _h, 1f / MathF.Sqrt(_h));
        _theta[_oLogStd] = _config.InitialLogStd;
    }

    private void Fill(int offset, int n, float bound)
    {
        for (int i = 0; i < n; i++) _theta[offset + i] = (2f * _rng.NextSingle() - 1f) * bound;
    }

    // ---------------------------------------------------------------- acting

    public void Weights(in WeightingContext context, Span<float> wl, Span<float> wf)
    {
        var stats = context.Stats;
        int b = stats.Shape.B;
        StrategyChecks.Batch(Name, K, stats.Shape, wl, wf);
        StrategyChecks.Labels(Name, context.Labels, b);
        var labels = context.Labels;
        EnsureBatchScratch(b);

        UpdateNormaliser(stats, labels, b);
        BuildInputs(stats, b);

        ForwardBatch(b);
        int bk = b * K;
        var noise = _noise.AsSpan(0, bk);
        FillStandardNormal(noise);
        TensorPrimitives.MultiplyAdd(noise, Sigma, _mu.AsSpan(0, bk), _act.AsSpan(0, bk));
        float logNormaliser = K * (_theta[_oLogStd] + HalfLog2Pi);
        for (int r = 0; r < b; r++)
        {
            _logp[r] = -0.5f * TensorPrimitives.SumOfSquares(noise.Slice(r * K, K)) - logNormaliser;
            WriteWeights(stats, r, _act.AsSpan(r * K, K), wl.Slice(r * K, K), wf.Slice(r * K, K));
        }
        wl[..(b * K)].CopyTo(_usedWl);
        wf[..(b * K)].CopyTo(_usedWf);
        ChooseRowsToLearnFrom(labels, b);
        _pendingB = b;
        _pending = true;
    }

    private void WriteWeights(Core.Distill.DistillStats stats, int r, ReadOnlySpan<float> a, Span<float> wl, Span<float> wf)
    {
        TeacherTerms.Softmax(a, wl);
        if (!_config.MixWithPaperTerms)
        {
            wl.CopyTo(wf);
            return;
        }
        var c = _rowTerms.AsSpan(0, K);
        var dl = _rowTerms.AsSpan(K, K);
        var df = _rowTerms.AsSpan(2 * K, K);
        TeacherTerms.Confidence(stats.CeT.AsSpan(r * K, K), c);
        TeacherTerms.Softmax(stats.Kl.AsSpan(r * K, K), dl);
        TeacherTerms.Softmax(stats.Cos.AsSpan(r * K, K), df);
        const float third = 1f / 3f;
        for (int k = 0; k < K; k++)
        {
            float p = wl[k];
            wl[k] = third * (p + c[k] + dl[k]);
            wf[k] = third * (p + c[k] + df[k]);
        }
    }

    /// <summary>Picks up to RowsPerBatch counted rows (partial Fisher-Yates) that will join the rollout.</summary>
    private void ChooseRowsToLearnFrom(ReadOnlySpan<int> labels, int b)
    {
        int n = 0;
        for (int r = 0; r < b; r++) if (StrategyChecks.Counted(labels, r)) _counted[n++] = r;
        int take = Math.Min(Math.Min(_config.RowsPerBatch, n), _config.RolloutRows - _filled);
        for (int i = 0; i < take; i++)
        {
            int j = i + _rng.NextInt(n - i);
            (_counted[i], _counted[j]) = (_counted[j], _counted[i]);
            _pendingRows[i] = _counted[i];
        }
        _pendingCount = take;
    }

    /// <summary>
    /// Standard normal draws by Marsaglia's polar method: (u, v) uniform in the unit disc (the square's corners
    /// rejected, about 21 % of tries), s = u^2 + v^2, then u sqrt(-2 ln s / s) and v sqrt(-2 ln s / s) are two
    /// independent N(0, 1). One logarithm and one square root per pair and no trigonometry, which made Box-Muller
    /// cost as much as the policy's forward.
    /// </summary>
    private void FillStandardNormal(Span<float> z)
    {
        for (int i = 0; i < z.Length; i += 2)
        {
            float u, v, s;
            do
            {
                u = 2f * _rng.NextSingle() - 1f;
                v = 2f * _rng.NextSingle() - 1f;
                s = u * u + v * v;
            } while (s >= 1f || s == 0f);
            float scale = MathF.Sqrt(-2f * MathF.Log(s) / s);
            z[i] = u * scale;
            if (i + 1 < z.Length) z[i + 1] = v * scale;
        }
    }

    private void EnsureBatchScratch(int b)
    {
        if (_mu.Length >= b * K) return;
        _x = new float[b * K * InputWidth];
        _deviation = new float[b * K];
        _z = new float[(TeacherFeatures + 1) * b * K];
        _noise = new float[b * K];
        _mu = new float[b * K]; _act = new float[b * K]; _usedWl = new float[b * K]; _usedWf = new float[b * K];
        _logp = new float[b]; _val = new float[b]; _reward = new float[b];
        _pendingRows = new int[b]; _counted = new int[b];
    }

    // ---------------------------------------------------------------- inputs

    /// <summary>The [B,K] statistic behind each teacher channel, in input order.</summary>
    private static float[] Channel(Core.Distill.DistillStats s, int channel) => channel switch
    {
        0 => s.Kl, 1 => s.CeT, 2 => s.Ht, 3 => s.Conf, 4 => s.Hit, 5 => s.Cos, 6 => s.Mse, _ => s.CeS,
    };

    /// <summary>
    /// Merges this batch's counted rows into the running mean/variance: batch sums taken around the running mean
    /// (so they stay small and exact enough in float64), then Chan et al.'s pairwise update.
    /// </summary>
    private void UpdateNormaliser(Core.Distill.DistillStats stats, ReadOnlySpan<int> labels, int b)
    {
        bool everyRowCounted = labels.IsEmpty || TensorPrimitives.Min(labels[..b]) >= 0;
        for (int ch = 0; ch < Channels; ch++)
        {
            var values = Channel(stats, ch);
            int teachers = ch < TeacherFeatures ? K : 1;
            double center = _normMean[ch], s1 = 0, s2 = 0;
            long n = 0;
            var deviations = _deviation.AsSpan(0, b * teachers);
            if (everyRowCounted && SumDeviations(values.AsSpan(0, b * teachers), deviations, out float batchMean, out s1, out s2))
            {
                center = batchMean;
                n = deviations.Length;
            }
            else
            {
                for (int r = 0; r < b; r++)
                {
                    if (!StrategyChecks.Counted(labels, r)) continue;
                    for (int k = 0; k < teachers; k++)
                    {
                        float v = values[r * teachers + k];
                        if (!float.IsFinite(v)) continue;
                        double d = v - center;
                        s1 += d;
                        s2 += d * d;
                        n++;
                    }
                }
            }
            if (n == 0) continue;
            double mean = center + s1 / n, m2 = Math.Max(0, s2 - s1 * s1 / n);
            double total = _normCount[ch] + n, delta = mean - _normMean[ch];
            _normMean[ch] += delta * n / total;
            _normM2[ch] += m2 + delta * delta * _normCount[ch] * n / total;
            _normCount[ch] = total;
            double variance = total > 1 ? _normM2[ch] / (total - 1) : 0;
            _normShift[ch] = (float)_normMean[ch];
            _normScale[ch] = (float)(1.0 / Math.Sqrt(variance + 1e-8));
        }
    }

    /// <summary>Running mean and unbiased variance of one input channel (0..6 teacher statistics, 7 the student's CEs).</summary>
    internal (double Mean, double Variance) NormaliserMoments(int channel) =>
        (_normMean[channel], _normCount[channel] > 1 ? _normM2[channel] / (_normCount[channel] - 1) : 0);

    /// <summary>The network input of the last acted-on batch, [B,K,15].</summary>
    internal ReadOnlySpan<float> LastInputs(int b) => _x.AsSpan(0, b * K * InputWidth);

    /// <summary>
    /// Vector path of the normaliser's batch sums: the batch mean m in float, d = v - m, then sum d and sum d^2 (so
    /// the sum of squares is taken around the batch's own center and keeps the variance even for values far from
    /// 0). False when a value is not finite (the sums are then not finite either): the caller then takes the
    /// per-value path, which skips such values. The scalar double loop this replaces was as costly as the policy's
    /// forward.
    /// </summary>
    private static bool SumDeviations(ReadOnlySpan<float> values, Span<float> deviations, out float mean, out double sum, out double sumOfSquares)
    {
        mean = TensorPrimitives.Sum<float>(values) / values.Length;
        sum = sumOfSquares = double.NaN;
        if (!float.IsFinite(mean)) return false;
        TensorPrimitives.Subtract(values, mean, deviations);
        sum = TensorPrimitives.Sum<float>(deviations);
        sumOfSquares = TensorPrimitives.SumOfSquares<float>(deviations);
        return double.IsFinite(sum) && double.IsFinite(sumOfSquares);
    }

    /// <summary>x[b,k] = [z[b,k] (7), mean_k z[b,:] (7), z(CEs[b])], z = clip((v - mean) / std); non-finite v gives 0.
    /// Each channel's z is computed over the whole [B,K] array with vector arithmetic, then the rows are assembled
    /// in order (the per-value scalar version cost as much as the network's forward).</summary>
    private void BuildInputs(Core.Distill.DistillStats stats, int b)
    {
        float clip = _config.ObservationClip, inv = 1f / K;
        int bk = b * K;
        for (int ch = 0; ch < TeacherFeatures; ch++)
        {
            var z = _z.AsSpan(ch * bk, bk);
            Standardise(Channel(stats, ch).AsSpan(0, bk), _normShift[ch], _normScale[ch], clip, z);
        }
        var ce = _z.AsSpan(TeacherFeatures * bk, b);
        Standardise(stats.CeS.AsSpan(0, b), _normShift[TeacherFeatures], _normScale[TeacherFeatures], clip, ce);
        Span<float> pooled = stackalloc float[TeacherFeatures];
        for (int r = 0; r < b; r++)
        {
            var row = _x.AsSpan(r * K * InputWidth, K * InputWidth);
            pooled.Clear();
            for (int k = 0; k < K; k++)
            {
                var xk = row.Slice(k * InputWidth, InputWidth);
                int i = r * K + k;
                for (int ch = 0; ch < TeacherFeatures; ch++)
                {
                    float z = _z[ch * bk + i];
                    xk[ch] = z;
                    pooled[ch] += z;
                }
            }
            for (int ch = 0; ch < TeacherFeatures; ch++) pooled[ch] *= inv;
            for (int k = 0; k < K; k++)
            {
                var xk = row.Slice(k * InputWidth, InputWidth);
                pooled.CopyTo(xk[TeacherFeatures..]);
                xk[InputWidth - 1] = ce[r];
            }
        }
    }

    /// <summary>z = clip((v - shift) scale, +-clip), and 0 where v is not finite.</summary>
    private static void Standardise(ReadOnlySpan<float> values, float shift, float scale, float clip, Span<float> z)
    {
        TensorPrimitives.Subtract(values, shift, z);
        TensorPrimitives.Multiply(z, scale, z);
        TensorPrimitives.Min(z, clip, z);
        TensorPrimitives.Max(z, -clip, z);
        if (float.IsFinite(TensorPrimitives.Sum<float>(values))) return;
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) z[i] = 0f;
    }

    // ---------------------------------------------------------------- network

    /// <summary>Forward of a whole batch for acting: mu [B,K] and V [B] from _x, by the same arithmetic as the update's <see cref="ForwardRow"/>.</summary>
    private void ForwardBatch(int b)
    {
        int width = K * InputWidth;
        for (int r = 0; r < b; r++) _val[r] = ForwardTeachers(_x.AsSpan(r * width, width), _mu.AsSpan(r * K, K), default);
    }

    /// <summary>Forward of one row's K teachers keeping the hidden layer for <see cref="BackwardRow"/>: fills _hid [K,H]
    /// and _hMean, writes mu [K], returns V.</summary>
    private float ForwardRow(ReadOnlySpan<float> x, Span<float> mu) => ForwardTeachers(x, mu, _hid);

    /// <summary>
    /// mu [K] and V of one row; _hMean gets the hidden layer's mean over teachers, <paramref name="hidden"/> (when
    /// not empty) the hidden layer [K,H]. The pooled inputs are the same for every teacher of the row, so their
    /// share of W1 x (plus b1) is computed once.
    /// </summary>
    private float ForwardTeachers(ReadOnlySpan<float> x, Span<float> mu, Span<float> hidden)
    {
        var theta = _theta.AsSpan();
        var w1 = theta.Slice(_oW1, InputWidth * _h);
        var ctx = _ctx.AsSpan();
        theta.Slice(_oB1, _h).CopyTo(ctx);
        AddRowCombination(ctx, w1[(TeacherFeatures * _h)..], x[TeacherFeatures..InputWidth]);
        var wmu = theta.Slice(_oMu, _h);
        float bmu = theta[_oBMu];
        var hMean = _hMean.AsSpan();
        hMean.Clear();
        for (int k = 0; k < K; k++)
        {
            var h = hidden.IsEmpty ? default : hidden.Slice(k * _h, _h);
            mu[k] = TeacherHidden(ctx, w1, x.Slice(k * InputWidth, TeacherFeatures), wmu, hMean, h) + bmu;
        }
        TensorPrimitives.Multiply(hMean, 1f / K, hMean);
        return TensorPrimitives.Dot(hMean, theta.Slice(_oV, _h)) + theta[_oBV];
    }

    /// <summary>
    /// One teacher's hidden layer h = softsign(ctx + W1[:7]^T xk) = u / (1 + |u|) (tanh-shaped, bounded and smooth for
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
            // Lengths checked once above; every load and store below stays inside [0, H) of its span (w1: [0, 7 H)).
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
    /// Backward of one row given dL/dmu [K] and dL/dV (after <see cref="ForwardRow"/> on the same x): adds into _grad.
    /// </summary>
    private void BackwardRow(ReadOnlySpan<float> x, ReadOnlySpan<float> dmu, float dv)
    {
        var theta = _theta.AsSpan();
        var grad = _grad.AsSpan();
        var wmu = theta.Slice(_oMu, _h);
        var wv = theta.Slice(_oV, _h);
        var gW1 = grad.Slice(_oW1, InputWidth * _h);
        var gB1 = grad.Slice(_oB1, _h);
        TensorPrimitives.MultiplyAdd(_hMean, dv, grad.Slice(_oV, _h), grad.Slice(_oV, _h));
        grad[_oBV] += dv;
        float dvShare = dv / K;
        var ctxGrad = _ctx.AsSpan(); // reused: sum over teachers of dL/dpre, for the pooled inputs
        ctxGrad.Clear();
        var gMu = grad.Slice(_oMu, _h);
        int vw = Vector.IsHardwareAccelerated ? Vector<float>.Count : int.MaxValue;
        for (int k = 0; k < K; k++)
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
                for (; j <= _h - vw; j += vw)
                {
                    var hv = new Vector<float>(h[j..]);
                    (new Vector<float>(gMu[j..]) + hv * vdm).CopyTo(gMu[j..]);
                    var g = Vector<float>.One - Vector.Abs(hv);
                    var d = (new Vector<float>(wmu[j..]) * vdm + new Vector<float>(wv[j..]) * vdv) * (g * g);
                    d.CopyTo(dh[j..]);
                    (new Vector<float>(ctxGrad[j..]) + d).CopyTo(ctxGrad[j..]);
                }
            }
            for (; j < _h; j++)
            {
                gMu[j] += h[j] * dm;
                float g = 1f - MathF.Abs(h[j]);
                dh[j] = (wmu[j] * dm + wv[j] * dvShare) * (g * g);
                ctxGrad[j] += dh[j];
            }
            AddOuterProduct(gW1, x.Slice(k * InputWidth, TeacherFeatures), dh);
        }
        // The pooled inputs and b1 are the same for all K teachers of the row: one multiply-add each.
        TensorPrimitives.Add(gB1, ctxGrad, gB1);
        AddOuterProduct(gW1[(TeacherFeatures * _h)..], x[TeacherFeatures..InputWidth], ctxGrad);
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

    // ---------------------------------------------------------------- feedback and rollout

    public AgentUpdateLog? Learn(in LearnFeedback feedback)
    {
        if (!_pending) throw new MtkdInputException($"strategy {Name}: feedback without weights for the batch");
        var stats = feedback.Stats;
        if (stats.Shape.B != _pendingB || stats.Shape.K != K)
            throw new MtkdInputException($"strategy {Name}: feedback is for B={stats.Shape.B}, weights were for B={_pendingB}");
        StrategyChecks.Labels(Name, feedback.Labels, _pendingB);
        _pending = false;
        if (_config.Reward == PpoRewardKind.Paper)
        {
            PaperReward.Compute(stats, feedback.Labels, _usedWl, _usedWf, feedback.Beta, _config.ClampPaperReward, _reward);
        }
        else if (_config.Reward == PpoRewardKind.TeacherFit)
        {
            PaperReward.ComputeTeacherFit(stats, feedback.Labels, _usedWl, _reward);
        }
        else
        {
            double improvement = feedback.ProbeLossBefore - feedback.ProbeLossAfter;
            if (!double.IsFinite(improvement))
                throw new MtkdInputException($"strategy {Name}: the probe reward needs finite probe losses before and after the step");
            _probeCount++;
            double d = improvement - _probeMean;
            _probeMean += d / _probeCount;
            _probeM2 += d * (improvement - _probeMean);
            double std = _probeCount > 1 ? Math.Sqrt(_probeM2 / (_probeCount - 1)) : 0;
            float r = (float)(std > 0 ? improvement / std : Math.Sign(improvement));
            for (int i = 0; i < _pendingCount; i++) _reward[_pendingRows[i]] = r;
        }

        for (int i = 0; i < _pendingCount; i++)
        {
            int row = _pendingRows[i], slot = _filled + i;
            int width = K * InputWidth;
            _x.AsSpan(row * width, width).CopyTo(_rollX.AsSpan(slot * width, width));
            _act.AsSpan(row * K, K).CopyTo(_rollA.AsSpan(slot * K, K));
            _rollLogP[slot] = _logp[row];
            _rollV[slot] = _val[row];
            _rollR[slot] = _reward[row];
        }
        _filled += _pendingCount;
        _pendingCount = 0;
        return _filled == _config.RolloutRows ? Update() : null;
    }

    public AgentUpdateLog? EndEpoch()
    {
        _pending = false;
        _epochs++;
        return null;
    }

    /// <summary>
    /// Generalised advantage estimation over a sequence of steps in time order:
    /// delta_t = r_t + gamma V(s_{t+1}) (1 - done_t) - V(s_t);  A_t = delta_t + gamma lambda (1 - done_t) A_{t+1}.
    /// With every step terminal (each row a one-step decision) this is A_t = r_t - V(s_t).
    /// </summary>
    public static void Gae(ReadOnlySpan<float> rewards, ReadOnlySpan<float> values, ReadOnlySpan<float> nextValues,
        ReadOnlySpan<bool> dones, float gamma, float lambda, Span<float> advantages)
    {
        float next = 0;
        for (int t = rewards.Length - 1; t >= 0; t--)
        {
            float notDone = dones[t] ? 0f : 1f;
            float delta = rewards[t] + gamma * nextValues[t] * notDone - values[t];
            next = delta + gamma * lambda * notDone * next;
            advantages[t] = next;
        }
    }

    private float CurrentLearningRate() => _config.AnnealEpochs > 0
        ? _config.LearningRate * Math.Max(0f, 1f - (float)_epochs / _config.AnnealEpochs)
        : _config.LearningRate;

    private PpoUpdateLog Update()
    {
        int n = _filled;
        Gae(_rollR.AsSpan(0, n), _rollV.AsSpan(0, n), _rollV.AsSpan(0, n), _done.AsSpan(0, n), _config.Gamma, _config.Lambda, _adv);
        for (int i = 0; i < n; i++) _ret[i] = _adv[i] + _rollV[i];
        double explained = ExplainedVariance(n);
        double meanReward = 0;
        for (int i = 0; i < n; i++) meanReward += _rollR[i];

        float lr = CurrentLearningRate();
        int mb = Math.Min(_config.MinibatchRows, n);
        var totals = default(MinibatchLosses);
        int epochsRun = 0;
        bool stop = false;
        for (int epoch = 0; epoch < _config.UpdateEpochs && !stop; epoch++)
        {
            for (int i = 0; i < n; i++) _perm[i] = i;
            _rng.Shuffle(_perm.AsSpan(0, n));
            totals = default;
            int minibatches = 0;
            for (int start = 0; start + mb <= n; start += mb)
            {
                var losses = LossAndGradient(_perm.AsSpan(start, mb));
                if (_config.TargetKl is { } target && losses.ApproxKl > 1.5 * target) { stop = true; break; }
                ClipGradient();
                AdamStep(lr);
                totals += losses;
                minibatches++;
            }
            if (minibatches > 0) { totals /= minibatches; epochsRun++; }
        }
        _filled = 0;
        _updates++;
        float entropy = 0.5f + HalfLog2Pi + _theta[_oLogStd];
        return new PpoUpdateLog(_updates, totals.ApproxKl, totals.ClipFraction, explained, entropy,
            totals.Policy, totals.Value, lr, epochsRun, n, meanReward / n);
    }

    private double ExplainedVariance(int n)
    {
        var ret = new double[n];
        var residual = new double[n];
        for (int i = 0; i < n; i++) { ret[i] = _ret[i]; residual[i] = _ret[i] - _rollV[i]; }
        double total = ArrayStatistics.Variance(ret);
        return total > 0 ? 1 - ArrayStatistics.Variance(residual) / total : double.NaN;
    }

    internal record struct MinibatchLosses(double Policy, double Value, double Entropy, double ApproxKl, double ClipFraction)
    {
        public static MinibatchLosses operator +(MinibatchLosses a, MinibatchLosses b) =>
            new(a.Policy + b.Policy, a.Value + b.Value, a.Entropy + b.Entropy, a.ApproxKl + b.ApproxKl, a.ClipFraction + b.ClipFraction);

        public static MinibatchLosses operator /(MinibatchLosses a, int n) =>
            new(a.Policy / n, a.Value / n, a.Entropy / n, a.ApproxKl / n, a.ClipFraction / n);

        /// <summary>The loss PPO minimises (the value and entropy weights applied).</summary>
        public double Total(PpoConfig c) => Policy + c.ValueCoefficient * Value - c.EntropyCoefficient * Entropy;
    }

    /// <summary>
    /// The PPO loss of the rollout rows <paramref name="rows"/> under the current parameters; its gradient replaces _grad.
    /// </summary>
    internal MinibatchLosses LossAndGradient(ReadOnlySpan<int> rows)
    {
        Array.Clear(_grad);
        int m = rows.Length;
        double advMean = 0, advSs = 0;
        foreach (int i in rows) advMean += _adv[i];
        advMean /= m;
        foreach (int i in rows) advSs += (_adv[i] - advMean) * (_adv[i] - advMean);
        float advScale = (float)(1.0 / (Math.Sqrt(advSs / (m - 1)) + 1e-8));

        float logStd = _theta[_oLogStd], invVar = MathF.Exp(-2f * logStd), eps = _config.ClipRange, epsV = _config.ValueClipRange;
        float cv = _config.ValueCoefficient, invM = 1f / m;
        Span<float> mu = _rowTerms.AsSpan(0, K);
        Span<float> dmu = _rowTerms.AsSpan(K, K);
        double policy = 0, value = 0, kl = 0, clipped = 0, dLogStd = 0;
        foreach (int i in rows)
        {
            var x = _rollX.AsSpan(i * K * InputWidth, K * InputWidth);
            var a = _rollA.AsSpan(i * K, K);
            float v = ForwardRow(x, mu);
            float sq = 0;
            for (int k = 0; k < K; k++) { float u = a[k] - mu[k]; sq += u * u; }
            float logp = -0.5f * sq * invVar - K * (logStd + HalfLog2Pi);
            float logRatio = logp - _rollLogP[i];
            float ratio = MathF.Exp(logRatio);
            float adv = (float)((_adv[i] - advMean) * advScale);
            float surr1 = ratio * adv, surr2 = Math.Clamp(ratio, 1f - eps, 1f + eps) * adv;
            policy -= Math.Min(surr1, surr2) * invM;
            // Only the unclipped branch depends on the parameters.
            float dLogp = surr1 <= surr2 ? -adv * invM * ratio : 0f;
            for (int k = 0; k < K; k++) dmu[k] = dLogp * (a[k] - mu[k]) * invVar;
            dLogStd += dLogp * (sq * invVar - K);

            float ret = _ret[i], vOld = _rollV[i];
            float dv;
            if (epsV > 0)
            {
                float vClip = vOld + Math.Clamp(v - vOld, -epsV, epsV);
                float l1 = (v - ret) * (v - ret), l2 = (vClip - ret) * (vClip - ret);
                value += 0.5 * Math.Max(l1, l2) * invM;
                dv = l1 >= l2 ? v - ret : (Math.Abs(v - vOld) < epsV ? vClip - ret : 0f);
            }
            else
            {
                value += 0.5 * (v - ret) * (v - ret) * invM;
                dv = v - ret;
            }
            BackwardRow(x, dmu, cv * dv * invM);

            kl += ((ratio - 1f) - logRatio) * invM;
            if (Math.Abs(ratio - 1f) > eps) clipped += invM;
        }
        float entropy = 0.5f + HalfLog2Pi + logStd;
        _grad[_oLogStd] += (float)dLogStd - _config.EntropyCoefficient;
        return new MinibatchLosses(policy, value, entropy, kl, clipped);
    }

    private void ClipGradient()
    {
        float norm = MathF.Sqrt(TensorPrimitives.SumOfSquares(_grad));
        if (norm > _config.MaxGradNorm) TensorPrimitives.Multiply(_grad, _config.MaxGradNorm / norm, _grad);
    }

    private void AdamStep(float lr)
    {
        _adamStep++;
        float b1 = _config.AdamBeta1, b2 = _config.AdamBeta2;
        float c1 = 1f / (1f - MathF.Pow(b1, _adamStep)), c2 = 1f / (1f - MathF.Pow(b2, _adamStep));
        for (int i = 0; i < _theta.Length; i++)
        {
            float g = _grad[i];
            _adamM[i] = b1 * _adamM[i] + (1f - b1) * g;
            _adamV[i] = b2 * _adamV[i] + (1f - b2) * g * g;
            _theta[i] -= lr * (_adamM[i] * c1) / (MathF.Sqrt(_adamV[i] * c2) + _config.AdamEpsilon);
        }
    }

    // ---------------------------------------------------------------- checkpoints

    public StrategyState Export()
    {
        var s = new StrategyState(Name) { RngState = _rng.State };
        s.Arrays["theta"] = (float[])_theta.Clone();
        s.Arrays["adam_m"] = (float[])_adamM.Clone();
        s.Arrays["adam_v"] = (float[])_adamV.Clone();
        s.Arrays["rollout_x"] = (float[])_rollX.Clone();
        s.Arrays["rollout_a"] = (float[])_rollA.Clone();
        s.Arrays["rollout_logp"] = (float[])_rollLogP.Clone();
        s.Arrays["rollout_v"] = (float[])_rollV.Clone();
        s.Arrays["rollout_r"] = (float[])_rollR.Clone();
        s.Scalars["k"] = K;
        s.Scalars["hidden"] = _h;
        s.Scalars["adam_step"] = _adamStep;
        s.Scalars["filled"] = _filled;
        s.Scalars["epochs"] = _epochs;
        s.Scalars["updates"] = _updates;
        s.Scalars["probe_count"] = _probeCount;
        s.Scalars["probe_mean"] = _probeMean;
        s.Scalars["probe_m2"] = _probeM2;
        for (int ch = 0; ch < Channels; ch++)
        {
            s.Scalars[$"norm.{ch}.count"] = _normCount[ch];
            s.Scalars[$"norm.{ch}.mean"] = _normMean[ch];
            s.Scalars[$"norm.{ch}.m2"] = _normM2[ch];
        }
        s.Arrays["norm_shift"] = (float[])_normShift.Clone();
        s.Arrays["norm_scale"] = (float[])_normScale.Clone();
        return s;
    }

    public void Import(StrategyState state)
    {
        state.CheckStrategy(Name);
        if ((int)state.Scalar("k") != K || (int)state.Scalar("hidden") != _h)
            throw new MtkdInputException($"strategy {Name}: checkpoint is for K={state.Scalar("k")}, hidden {state.Scalar("hidden")}; this run has K={K}, hidden {_h}");
        state.CopyTo("theta", _theta);
        state.CopyTo("adam_m", _adamM);
        state.CopyTo("adam_v", _adamV);
        state.CopyTo("rollout_x", _rollX);
        state.CopyTo("rollout_a", _rollA);
        state.CopyTo("rollout_logp", _rollLogP);
        state.CopyTo("rollout_v", _rollV);
        state.CopyTo("rollout_r", _rollR);
        state.CopyTo("norm_shift", _normShift);
        state.CopyTo("norm_scale", _normScale);
        _adamStep = (long)state.Scalar("adam_step");
        _filled = (int)state.Scalar("filled");
        if (_filled < 0 || _filled >= _config.RolloutRows)
            throw new MtkdInputException($"strategy {Name}: checkpoint rollout holds {_filled} rows, this run's rollout has {_config.RolloutRows}");
        _epochs = (int)state.Scalar("epochs");
        _updates = (long)state.Scalar("updates");
        _probeCount = state.Scalar("probe_count");
        _probeMean = state.Scalar("probe_mean");
        _probeM2 = state.Scalar("probe_m2");
        for (int ch = 0; ch < Channels; ch++)
        {
            _normCount[ch] = state.Scalar($"norm.{ch}.count");
            _normMean[ch] = state.Scalar($"norm.{ch}.mean");
            _normM2[ch] = state.Scalar($"norm.{ch}.m2");
        }
        _pending = false;
        _pendingCount = 0;
        _rng.State = state.RestoreRng().State;
    }

    // ---------------------------------------------------------------- test access

    internal float[] Theta => _theta;
    internal float[] Gradient => _grad;
    internal int RolloutFilled => _filled;

    /// <summary>Fills the rollout's advantages and returns as <see cref="Update"/> would (tests then call LossAndGradient).</summary>
    internal void PrepareAdvantages()
    {
        Gae(_rollR.AsSpan(0, _filled), _rollV.AsSpan(0, _filled), _rollV.AsSpan(0, _filled), _done.AsSpan(0, _filled),
            _config.Gamma, _config.Lambda, _adv);
        for (int i = 0; i < _filled; i++) _ret[i] = _adv[i] + _rollV[i];
    }
}
