using System.Numerics.Tensors;
using MathNet.Numerics.Statistics;
using MtkdRl.Core;
using MtkdRl.Core.Distill;

namespace MtkdRl.Strategies;

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

    /// <summary>
    /// A (K+1)-th "labels" slot in the softmax over teachers: its share is taken from every teacher, so a row's KD
    /// weights sum to 1 - w_labels and the agent can give a row less distillation and the label more say. With the
    /// teacher reward the slot costs the student's own CEs where a teacher costs its CEt: the agent backs off on
    /// rows (and pools) where no teacher knows the label better than the student already does.
    /// </summary>
    public bool LabelsSlot { get; init; }

    /// <summary>The labels slot's starting logit (teachers start near 0, so 0 gives it one share of K+1). Measured against -2 (3 % of a
    /// row at K = 4): on a pool of noise 82.50 % against 82.17 %, on the 8x8 digits 98.16 % against 97.99 % without the slot.</summary>
    public float LabelsInitialLogit { get; init; } = 0f;

    /// <summary>
    /// The labels head learns at this multiple of <see cref="LearningRate"/>: whether a pool is worth distilling
    /// from is one global decision that a run must settle within its first epochs, while at the shared rate its
    /// bias moves about 0.3 in six epochs of default updates.
    /// </summary>
    public float LabelsLearningRateScale { get; init; } = 10f;

    /// <summary>
    /// Besides PPO's updates, the labels head's bias takes a deterministic-policy-gradient step after every batch:
    /// the teacher reward is a known function of the weights, so its mean gradient with respect to the labels
    /// logit over the batch's counted rows, -p_labels (CEs - E_p[cost]), is exact, and the bias climbs it at this
    /// rate (0: PPO alone). A pool no better than the labels is then left within a few dozen batches instead of
    /// several epochs.
    /// </summary>
    public float LabelsGateRate { get; init; } = 1f;

    /// <summary>
    /// The per-batch labels step is the natural gradient (the advantage min_k CEt - CEs itself, not p (1 - p) times it),
    /// so the share moves as fast near 0 or 1 as in between (<see cref="LabelsGate"/>).
    /// </summary>
    public bool LabelsGateNatural { get; init; } = true;

    /// <summary>Normalised inputs are clipped to +- this many standard deviations.</summary>
    public float ObservationClip { get; init; } = 5f;

    internal void Check()
    {
        bool ok = Hidden >= 1 && LearningRate > 0 && AdamBeta1 is >= 0 and < 1 && AdamBeta2 is >= 0 and < 1 && AdamEpsilon > 0
            && AnnealEpochs >= 0 && float.IsFinite(InitialLogStd) && ClipRange > 0 && ValueClipRange >= 0 && ValueCoefficient >= 0
            && EntropyCoefficient >= 0 && Gamma is >= 0 and <= 1 && Lambda is >= 0 and <= 1 && RolloutRows >= 2
            && RowsPerBatch >= 1 && UpdateEpochs >= 1 && MinibatchRows >= 2 && MaxGradNorm > 0 && (TargetKl is null or > 0)
            && ObservationClip > 0 && float.IsFinite(LabelsInitialLogit) && LabelsLearningRateScale > 0 && LabelsGateRate >= 0 && float.IsFinite(LabelsGateRate);
        if (!ok) throw new MtkdInputException($"strategy {PpoAgent.CatalogName}: a PPO setting is out of range ({this})");
    }
}

/// <summary>
/// PPO's rollout storage: per kept row its network input [K,In], its actions [K], their log-probability and the
/// critic's value when the row was acted on, and its reward; GAE fills the advantages and returns at update time.
/// Each row is a one-step episode (done), so there is no next observation to keep.
/// </summary>
internal sealed class PpoRollout
{
    private readonly int _width, _actions;

    /// <param name="actions">Actions per row: K, or K+1 with the labels slot.</param>
    public PpoRollout(int capacity, int k, int inputWidth, int actions)
    {
        _actions = actions;
        _width = k * inputWidth;
        X = new float[capacity * _width];
        Actions = new float[capacity * actions];
        LogP = new float[capacity];
        Values = new float[capacity];
        Rewards = new float[capacity];
        Advantages = new float[capacity];
        Returns = new float[capacity];
        Done = new bool[capacity];
        Array.Fill(Done, true);
    }

    public int Capacity => LogP.Length;

    /// <summary>Rows stored so far.</summary>
    public int Filled { get; set; }

    public float[] X { get; }
    public float[] Actions { get; }
    public float[] LogP { get; }
    public float[] Values { get; }
    public float[] Rewards { get; }
    public float[] Advantages { get; }
    public float[] Returns { get; }
    public bool[] Done { get; }

    /// <summary>Network input of stored row <paramref name="i"/>, [K,In].</summary>
    public Span<float> Input(int i) => X.AsSpan(i * _width, _width);

    /// <summary>Actions of stored row <paramref name="i"/>, [K] (or [K+1]).</summary>
    public Span<float> Action(int i) => Actions.AsSpan(i * _actions, _actions);

    /// <summary>Appends one row.</summary>
    public void Add(ReadOnlySpan<float> x, ReadOnlySpan<float> actions, float logp, float value, float reward)
    {
        int slot = Filled++;
        x.CopyTo(Input(slot));
        actions.CopyTo(Action(slot));
        LogP[slot] = logp;
        Values[slot] = value;
        Rewards[slot] = reward;
    }

    /// <summary>GAE over the stored rows, then returns R = A + V.</summary>
    public void ComputeAdvantages(float gamma, float lambda)
    {
        int n = Filled;
        PpoAgent.Gae(Rewards.AsSpan(0, n), Values.AsSpan(0, n), Values.AsSpan(0, n), Done.AsSpan(0, n), gamma, lambda, Advantages);
        for (int i = 0; i < n; i++) Returns[i] = Advantages[i] + Values[i];
    }

    public void Save(StrategyState s)
    {
        s.Arrays["rollout_x"] = (float[])X.Clone();
        s.Arrays["rollout_a"] = (float[])Actions.Clone();
        s.Arrays["rollout_logp"] = (float[])LogP.Clone();
        s.Arrays["rollout_v"] = (float[])Values.Clone();
        s.Arrays["rollout_r"] = (float[])Rewards.Clone();
        s.Scalars["filled"] = Filled;
    }

    public void Load(StrategyState s, string strategy)
    {
        s.CopyTo("rollout_x", X);
        s.CopyTo("rollout_a", Actions);
        s.CopyTo("rollout_logp", LogP);
        s.CopyTo("rollout_v", Values);
        s.CopyTo("rollout_r", Rewards);
        int filled = (int)s.Scalar("filled");
        if (filled < 0 || filled >= Capacity)
            throw new MtkdInputException($"strategy {strategy}: checkpoint rollout holds {filled} rows, this run's rollout has {Capacity}");
        Filled = filled;
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
/// <para>Parts, one job a file: <see cref="RunningNormaliser"/> (input moments), <see cref="SharedTeacherNetwork"/>
/// (the actor-critic and its backward), <see cref="StandardNormal"/> (the noise), <see cref="FlatAdam"/> (the
/// optimiser), <see cref="IPpoReward"/> (the reward).</para>
/// </summary>
public sealed class PpoAgent : IWeightingStrategy
{
    public const string CatalogName = "mtkd-rl-ppo";

    /// <summary>Per-teacher statistics the policy reads: KL, CEt, Ht, conf, hit, cos, mse.</summary>
    public const int TeacherFeatures = 7;

    /// <summary>Network input: teacher features, their mean over teachers, and the student's CEs.</summary>
    public const int InputWidth = 2 * TeacherFeatures + 1;

    /// <summary>Normalised channels: the teacher features, then the student's CEs.</summary>
    private const int Channels = TeacherFeatures + 1;

    private static readonly float HalfLog2Pi = 0.5f * MathF.Log(2f * MathF.PI);

    private readonly PpoConfig _config;
    private readonly Rng _rng;
    private readonly SharedTeacherNetwork _net;
    private readonly FlatAdam _adam;
    private readonly RunningNormaliser _normaliser = new(Channels);
    private readonly IPpoReward _reward;
    private readonly PpoRollout _rollout;

    // Per-batch scratch, grown to the largest B seen: inputs [B,K,In], standardised channels, noise, mu, actions
    // [B,K], log-probabilities, values and rewards [B], the weights used (for the reward).
    private float[] _x = [], _deviation = [], _z = [], _noise = [], _mu = [], _act = [], _logp = [], _val = [], _usedWl = [], _usedWf = [], _rewards = [], _gateAdvantage = [];
    private int[] _pendingRows = [], _counted = [];
    private int _pendingCount, _pendingB;
    private bool _pending;

    // Update scratch: the minibatch order, and mu / dL/dmu of one row.
    private readonly int[] _perm;
    private readonly float[] _rowMu, _rowDmu, _rowTerms, _rowP;

    /// <summary>Actions per row: K teacher logits, and the labels logit with <see cref="PpoConfig.LabelsSlot"/>.</summary>
    private readonly int _a;

    private int _epochs;
    private long _updates;

    public PpoAgent(int k, PpoConfig config, ulong seed)
    {
        if (k < 1) throw new MtkdInputException($"strategy {CatalogName}: teacher count must be at least 1 (got {k})");
        config.Check();
        K = k;
        _config = config;
        _rng = new Rng(seed);
        _net = new SharedTeacherNetwork(k, TeacherFeatures, config.Hidden, config.LabelsSlot);
        _net.Initialise(_rng, config.InitialLogStd, config.LabelsInitialLogit);
        _a = _net.Outputs;
        _adam = new FlatAdam(_net.Theta.Length, config.AdamBeta1, config.AdamBeta2, config.AdamEpsilon);
        _reward = IPpoReward.Create(config);
        _rollout = new PpoRollout(config.RolloutRows, k, InputWidth, _a);
        _perm = new int[config.RolloutRows];
        _rowMu = new float[_a];
        _rowDmu = new float[_a];
        _rowTerms = new float[3 * k];
        _rowP = new float[_a];
    }

    public string Name => CatalogName;
    public int K { get; }
    public bool IsAgent => true;
    public bool UsesTeachers => true;
    public bool NeedsStats => true;
    public bool NeedsTeacherOutputs => false;
    public bool NeedsProbeLoss => _reward.NeedsProbeLoss;
    public PpoConfig Config => _config;

    /// <summary>Learnt parameters; independent of K.</summary>
    public int ParameterCount => _net.Theta.Length;

    /// <summary>Current standard deviation of the logit noise.</summary>
    public float Sigma => MathF.Exp(_net.LogStd);

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

        int width = K * InputWidth;
        int a = _a;
        for (int r = 0; r < b; r++) _val[r] = _net.Forward(_x.AsSpan(r * width, width), _mu.AsSpan(r * a, a));
        int ba = b * a;
        var noise = _noise.AsSpan(0, ba);
        StandardNormal.Fill(_rng, noise);
        TensorPrimitives.MultiplyAdd(noise, Sigma, _mu.AsSpan(0, ba), _act.AsSpan(0, ba));
        float logNormaliser = a * (_net.LogStd + HalfLog2Pi);
        for (int r = 0; r < b; r++)
        {
            _logp[r] = -0.5f * TensorPrimitives.SumOfSquares(noise.Slice(r * a, a)) - logNormaliser;
            WriteWeights(stats, r, _act.AsSpan(r * a, a), wl.Slice(r * K, K), wf.Slice(r * K, K));
        }
        wl[..(b * K)].CopyTo(_usedWl);
        wf[..(b * K)].CopyTo(_usedWf);
        ChooseRowsToLearnFrom(labels, b);
        _pendingB = b;
        _pending = true;
    }

    private void WriteWeights(DistillStats stats, int r, ReadOnlySpan<float> a, Span<float> wl, Span<float> wf)
    {
        float teachersShare = 1f;
        if (_config.LabelsSlot)
        {
            // softmax over K+1; the teachers keep their K shares, the labels slot's share is KD left out.
            TeacherTerms.Softmax(a, _rowP);
            _rowP.AsSpan(0, K).CopyTo(wl);
            teachersShare = 1f - _rowP[K];
        }
        else
        {
            TeacherTerms.Softmax(a, wl);
        }
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
            wl[k] = _config.LabelsSlot ? third * (p + teachersShare * (c[k] + dl[k])) : third * (p + c[k] + dl[k]);
            wf[k] = _config.LabelsSlot ? third * (p + teachersShare * (c[k] + df[k])) : third * (p + c[k] + df[k]);
        }
    }

    /// <summary>Picks up to RowsPerBatch counted rows (partial Fisher-Yates) that will join the rollout.</summary>
    private void ChooseRowsToLearnFrom(ReadOnlySpan<int> labels, int b)
    {
        int n = 0;
        for (int r = 0; r < b; r++) if (StrategyChecks.Counted(labels, r)) _counted[n++] = r;
        int take = Math.Min(Math.Min(_config.RowsPerBatch, n), _config.RolloutRows - _rollout.Filled);
        for (int i = 0; i < take; i++)
        {
            int j = i + _rng.NextInt(n - i);
            (_counted[i], _counted[j]) = (_counted[j], _counted[i]);
            _pendingRows[i] = _counted[i];
        }
        _pendingCount = take;
    }

    private void EnsureBatchScratch(int b)
    {
        if (_mu.Length >= b * _a) return;
        _x = new float[b * K * InputWidth];
        _deviation = new float[b * K];
        _z = new float[Channels * b * K];
        _noise = new float[b * _a];
        _mu = new float[b * _a]; _act = new float[b * _a]; _usedWl = new float[b * K]; _usedWf = new float[b * K];
        _logp = new float[b]; _val = new float[b]; _rewards = new float[b]; _gateAdvantage = new float[b];
        _pendingRows = new int[b]; _counted = new int[b];
    }

    /// <summary>The [B,K] statistic behind each teacher channel, in input order; channel 7 is the student's CEs [B].</summary>
    private static float[] Channel(DistillStats s, int channel) => channel switch
    {
        0 => s.Kl, 1 => s.CeT, 2 => s.Ht, 3 => s.Conf, 4 => s.Hit, 5 => s.Cos, 6 => s.Mse, _ => s.CeS,
    };

    /// <summary>Merges this batch's counted rows into the running moments of every channel.</summary>
    private void UpdateNormaliser(DistillStats stats, ReadOnlySpan<int> labels, int b)
    {
        bool everyRowCounted = labels.IsEmpty || TensorPrimitives.Min(labels[..b]) >= 0;
        for (int ch = 0; ch < Channels; ch++)
            _normaliser.Merge(ch, Channel(stats, ch), labels, b, ch < TeacherFeatures ? K : 1, everyRowCounted, _deviation);
    }

    /// <summary>x[b,k] = [z[b,k] (7), mean_k z[b,:] (7), z(CEs[b])], z = clip((v - mean) / std); non-finite v gives 0.
    /// Each channel's z is computed over the whole [B,K] array with vector arithmetic, then the rows are assembled
    /// in order (the per-value scalar version cost as much as the network's forward).</summary>
    private void BuildInputs(DistillStats stats, int b)
    {
        float clip = _config.ObservationClip, inv = 1f / K;
        int bk = b * K;
        for (int ch = 0; ch < TeacherFeatures; ch++)
            _normaliser.Standardise(ch, Channel(stats, ch).AsSpan(0, bk), clip, _z.AsSpan(ch * bk, bk));
        var ce = _z.AsSpan(TeacherFeatures * bk, b);
        _normaliser.Standardise(TeacherFeatures, stats.CeS.AsSpan(0, b), clip, ce);
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

    // ---------------------------------------------------------------- feedback into the rollout

    public AgentUpdateLog? Learn(in LearnFeedback feedback)
    {
        if (!_pending) throw new MtkdInputException($"strategy {Name}: feedback without weights for the batch");
        var stats = feedback.Stats;
        if (stats.Shape.B != _pendingB || stats.Shape.K != K)
            throw new MtkdInputException($"strategy {Name}: feedback is for B={stats.Shape.B}, weights were for B={_pendingB}");
        StrategyChecks.Labels(Name, feedback.Labels, _pendingB);
        _pending = false;
        var kept = _pendingRows.AsSpan(0, _pendingCount);
        _reward.Compute(feedback, _usedWl, _usedWf, kept, _rewards);
        if (_config.LabelsSlot && _config.LabelsGateRate > 0 && _config.Reward == PpoRewardKind.TeacherFit) StepLabelsGate(stats, feedback.Labels);
        int width = K * InputWidth;
        foreach (int row in kept)
            _rollout.Add(_x.AsSpan(row * width, width), _act.AsSpan(row * _a, _a), _logp[row], _val[row], _rewards[row]);
        _pendingCount = 0;
        return _rollout.Filled == _config.RolloutRows ? Update() : null;
    }

    /// <summary>
    /// One step of the labels bias after a batch (<see cref="LabelsGate"/>): by the rate times the mean over counted rows
    /// of A = min_k CEt - CEs (the natural gradient), or, with <see cref="PpoConfig.LabelsGateNatural"/> off, of
    /// p (1 - p) A with p the row's labels share; kept within +-<see cref="LabelsGate.LogitBound"/>.
    /// </summary>
    private void StepLabelsGate(DistillStats stats, ReadOnlySpan<int> labels)
    {
        var advantage = _gateAdvantage.AsSpan(0, _pendingB);
        int n = LabelsGate.Advantages(stats, labels, _pendingB, K, advantage);
        if (n == 0) return;
        double sum = 0;
        for (int r = 0; r < _pendingB; r++)
        {
            if (_config.LabelsGateNatural) { sum += advantage[r]; continue; }
            double teachers = 0;
            for (int k = 0; k < K; k++) teachers += _usedWl[r * K + k];
            double p = Math.Max(0, 1 - teachers);
            sum += p * (1 - p) * advantage[r];
        }
        ref float bias = ref _net.Theta[_net.LabelsBiasIndex];
        bias = LabelsGate.Bounded(bias + (float)(_config.LabelsGateRate * sum / n));
    }

    public AgentUpdateLog? EndEpoch()
    {
        _pending = false;
        _epochs++;
        return null;
    }

    // ---------------------------------------------------------------- GAE

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

    // ---------------------------------------------------------------- the clipped update

    private float CurrentLearningRate() => _config.AnnealEpochs > 0
        ? _config.LearningRate * Math.Max(0f, 1f - (float)_epochs / _config.AnnealEpochs)
        : _config.LearningRate;

    private PpoUpdateLog Update()
    {
        int n = _rollout.Filled;
        _rollout.ComputeAdvantages(_config.Gamma, _config.Lambda);
        double explained = ExplainedVariance(n);
        double meanReward = 0;
        for (int i = 0; i < n; i++) meanReward += _rollout.Rewards[i];

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
                if (_config.LabelsSlot) _adam.Step(_net.Theta, _net.Gradient, lr, _net.LabelsOffset, _config.LabelsLearningRateScale);
                else _adam.Step(_net.Theta, _net.Gradient, lr);
                totals += losses;
                minibatches++;
            }
            if (minibatches > 0) { totals /= minibatches; epochsRun++; }
        }
        _rollout.Filled = 0;
        _updates++;
        float entropy = 0.5f + HalfLog2Pi + _net.LogStd;
        return new PpoUpdateLog(_updates, totals.ApproxKl, totals.ClipFraction, explained, entropy,
            totals.Policy, totals.Value, lr, epochsRun, n, meanReward / n);
    }

    private double ExplainedVariance(int n)
    {
        var ret = new double[n];
        var residual = new double[n];
        for (int i = 0; i < n; i++) { ret[i] = _rollout.Returns[i]; residual[i] = _rollout.Returns[i] - _rollout.Values[i]; }
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
    /// The PPO loss of the rollout rows <paramref name="rows"/> under the current parameters; its gradient replaces
    /// the network's gradient.
    /// </summary>
    internal MinibatchLosses LossAndGradient(ReadOnlySpan<int> rows)
    {
        Array.Clear(_net.Gradient);
        var adv = _rollout.Advantages;
        int m = rows.Length;
        double advMean = 0, advSs = 0;
        foreach (int i in rows) advMean += adv[i];
        advMean /= m;
        foreach (int i in rows) advSs += (adv[i] - advMean) * (adv[i] - advMean);
        float advScale = (float)(1.0 / (Math.Sqrt(advSs / (m - 1)) + 1e-8));

        float logStd = _net.LogStd, invVar = MathF.Exp(-2f * logStd), eps = _config.ClipRange, epsV = _config.ValueClipRange;
        float cv = _config.ValueCoefficient, invM = 1f / m;
        Span<float> mu = _rowMu;
        Span<float> dmu = _rowDmu;
        double policy = 0, value = 0, kl = 0, clipped = 0, dLogStd = 0;
        foreach (int i in rows)
        {
            var x = _rollout.Input(i);
            var a = _rollout.Action(i);
            float v = _net.ForwardForBackward(x, mu);
            float sq = 0;
            for (int k = 0; k < _a; k++) { float u = a[k] - mu[k]; sq += u * u; }
            float logp = -0.5f * sq * invVar - _a * (logStd + HalfLog2Pi);
            float logRatio = logp - _rollout.LogP[i];
            float ratio = MathF.Exp(logRatio);
            float advantage = (float)((adv[i] - advMean) * advScale);
            float surr1 = ratio * advantage, surr2 = Math.Clamp(ratio, 1f - eps, 1f + eps) * advantage;
            policy -= Math.Min(surr1, surr2) * invM;
            // Only the unclipped branch depends on the parameters.
            float dLogp = surr1 <= surr2 ? -advantage * invM * ratio : 0f;
            for (int k = 0; k < _a; k++) dmu[k] = dLogp * (a[k] - mu[k]) * invVar;
            dLogStd += dLogp * (sq * invVar - _a);

            float ret = _rollout.Returns[i], vOld = _rollout.Values[i];
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
            _net.BackwardRow(x, dmu, cv * dv * invM);

            kl += ((ratio - 1f) - logRatio) * invM;
            if (Math.Abs(ratio - 1f) > eps) clipped += invM;
        }
        float entropy = 0.5f + HalfLog2Pi + logStd;
        _net.AddLogStdGradient((float)dLogStd - _config.EntropyCoefficient);
        return new MinibatchLosses(policy, value, entropy, kl, clipped);
    }

    private void ClipGradient()
    {
        var grad = _net.Gradient;
        float norm = MathF.Sqrt(TensorPrimitives.SumOfSquares(grad));
        if (norm > _config.MaxGradNorm) TensorPrimitives.Multiply(grad, _config.MaxGradNorm / norm, grad);
    }

    // ---------------------------------------------------------------- checkpoints

    public StrategyState Export()
    {
        var s = new StrategyState(Name) { RngState = _rng.State };
        s.Arrays["theta"] = (float[])_net.Theta.Clone();
        s.Arrays["adam_m"] = (float[])_adam.FirstMoment.Clone();
        s.Arrays["adam_v"] = (float[])_adam.SecondMoment.Clone();
        _rollout.Save(s);
        s.Scalars["k"] = K;
        s.Scalars["hidden"] = _net.Hidden;
        if (_config.LabelsSlot) s.Scalars["labels_slot"] = 1;
        s.Scalars["adam_step"] = _adam.Steps;
        s.Scalars["epochs"] = _epochs;
        s.Scalars["updates"] = _updates;
        _reward.Save(s);
        _normaliser.Save(s);
        return s;
    }

    public void Import(StrategyState state)
    {
        state.CheckStrategy(Name);
        bool savedSlot = state.Scalars.TryGetValue("labels_slot", out double slot) && slot != 0;
        if (savedSlot != _config.LabelsSlot)
            throw new MtkdInputException($"strategy {Name}: checkpoint was made {(savedSlot ? "with" : "without")} the labels slot (--back-off, the default; --no-back-off without), this run is {(_config.LabelsSlot ? "with" : "without")} it");
        if ((int)state.Scalar("k") != K || (int)state.Scalar("hidden") != _net.Hidden)
            throw new MtkdInputException($"strategy {Name}: checkpoint is for K={state.Scalar("k")}, hidden {state.Scalar("hidden")}; this run has K={K}, hidden {_net.Hidden}");
        state.CopyTo("theta", _net.Theta);
        state.CopyTo("adam_m", _adam.FirstMoment);
        state.CopyTo("adam_v", _adam.SecondMoment);
        _rollout.Load(state, Name);
        _normaliser.Load(state);
        _adam.Steps = (long)state.Scalar("adam_step");
        _epochs = (int)state.Scalar("epochs");
        _updates = (long)state.Scalar("updates");
        _reward.Load(state);
        _pending = false;
        _pendingCount = 0;
        _rng.State = state.RestoreRng().State;
    }

    // ---------------------------------------------------------------- test access

    internal float[] Theta => _net.Theta;
    internal float[] Gradient => _net.Gradient;
    internal int RolloutFilled => _rollout.Filled;

    /// <summary>Running mean and unbiased variance of one input channel (0..6 teacher statistics, 7 the student's CEs).</summary>
    internal (double Mean, double Variance) NormaliserMoments(int channel) => _normaliser.Moments(channel);

    /// <summary>The network input of the last acted-on batch, [B,K,15].</summary>
    internal ReadOnlySpan<float> LastInputs(int b) => _x.AsSpan(0, b * K * InputWidth);

    /// <summary>Fills the rollout's advantages and returns as <see cref="Update"/> would (tests then call LossAndGradient).</summary>
    internal void PrepareAdvantages() => _rollout.ComputeAdvantages(_config.Gamma, _config.Lambda);
}
