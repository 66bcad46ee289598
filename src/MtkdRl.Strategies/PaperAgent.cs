using System.Numerics.Tensors;
using MtkdRl.Core;
using MtkdRl.Core.Distill;

namespace MtkdRl.Strategies;

/// <summary>Settings of the MTKD-RL paper agent; defaults are the reference code's.</summary>
public sealed record PaperAgentConfig
{
    /// <summary>Learn the three mixing factors of each head (softmax of 3 scalars, starting equal) instead of 1/3 each.</summary>
    public bool Dynamic { get; init; }

    /// <summary>Plain SGD step size of the replay (the reference uses 0.1, no momentum, no decay).</summary>
    public float LearningRate { get; init; } = 0.1f;

    /// <summary>
    /// Replay the stored batches after this many batches as well as at the end of each epoch (0: epoch end only).
    /// The reference replays every 1000 batches; memory grows with rows x state width until a replay.
    /// </summary>
    public int ReplayEveryBatches { get; init; } = 1000;

    /// <summary>
    /// Also replay as soon as the stored states reach this many bytes (0: no bound). Each row's state holds every
    /// teacher's embedding and logits, so an epoch's store grows with K and D (Fashion-MNIST at K = 64, D = 64:
    /// 1.2 GB; CIFAR-size data with 512-wide embeddings: several GB); the bound trades the reference's one replay
    /// per 1000 batches for memory that a large pool cannot exceed. At the default pool (420 MB an epoch) it
    /// changes nothing.
    /// </summary>
    public long MaxStoreBytes { get; init; } = 1L << 30;

    /// <summary>Width of the hidden layer.</summary>
    public int Hidden { get; init; } = 128;

    /// <summary>
    /// First epoch at weight 1/K per teacher (rows sum to 1, as aver's) instead of the reference's 1 per teacher
    /// (rows sum to K, K times aver's distillation pull while the learning rate is highest).
    /// </summary>
    public bool UnitRows { get; init; }

    /// <summary>
    /// Back off (<c>--back-off</c>): a labels gate beside the two heads, g = sigmoid(wg . h + bg) per row, takes the
    /// share g of the row for its label, so the row's wl and wf are the mixed weights times 1 - g. The gate learns
    /// after every batch from the teacher reward (<see cref="LabelsGate"/>), not from the replay. Off: the published
    /// agent, unchanged.
    /// </summary>
    public bool BackOff { get; init; }

    /// <summary>The gate's starting logit against one teacher's: bg = this - ln K, so 0 gives the labels one share of K+1.</summary>
    public float LabelsInitialLogit { get; init; }

    /// <summary>
    /// Step of the gate after each batch: bg moves by this times the batch's mean advantage min_k CEt - CEs (a natural-
    /// gradient step, bounded to +-12), and wg by this times the rows' deviations from that mean against h, divided by
    /// the batch's mean |h|^2 + 1 (a normalised least-mean-squares step, stable whatever the scale of h).
    /// </summary>
    public float LabelsGateRate { get; init; } = 1f;
}

/// <summary>
/// "mtkd-rl-paper": the agent of Yang et al. (AAAI 2025) as its public code behaves.
/// <para>State of row b: for each teacher k, [cos, KL, CEt, teacher embedding ft_k (D_k), teacher logits zt_k (C)],
/// concatenated over teachers (width S = sum_k (3 + D_k + C)). Network: h = ReLU(W1 x) (no bias, 128 wide), two
/// heads a_L = softmax_k(WL h + bL), a_F = softmax_k(WF h + bF). Weights mix three terms:
/// wl = mL0 a_L + mL1 c + mL2 dL and wf = mF0 a_F + mF1 c + mF2 dF, with c = (1 - softmax_k(CEt))/(K-1),
/// dL = softmax_k(KL), dF = softmax_k(cos), and m = 1/3 each (or softmax of learnt scalars when dynamic).
/// Rows of wl and wf sum to 1, except during the first epoch, where every weight is 1 (rows sum to K; 1/K with
/// <see cref="PaperAgentConfig.UnitRows"/>). With <see cref="PaperAgentConfig.BackOff"/> a labels gate scales each row by
/// 1 - g (its own step after every batch, see <see cref="LabelsGate"/>).</para>
/// <para>Learning: after each batch the reward r (see <see cref="PaperReward"/>, clamped to [0, 1]) is stored with
/// the state; at the end of the epoch (and every <see cref="PaperAgentConfig.ReplayEveryBatches"/> batches, or when the
/// store reaches <see cref="PaperAgentConfig.MaxStoreBytes"/>) every
/// stored batch, in order, takes one SGD step on J = mean_{b,k}[-r_b log wl] + mean_{b,k}[-r_b log wf] (binary
/// cross-entropy against the target 1, weighted by r; logs are floored at -100 as torch does), then the store
/// is emptied. Note what this objective does: with target 1 for every teacher, sum_k log w_k is largest when
/// a row's weights are equal, so the heads learn to offset the fixed c and d terms towards an even mix, and the
/// reward only decides how much each row counts. Initialisation is torch's default for Linear layers:
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.</para>
/// </summary>
public sealed class PaperAgent : IWeightingStrategy
{
    public const string CatalogName = "mtkd-rl-paper";
    private const float LogFloor = -100f;

    private readonly PaperAgentConfig _config;
    private readonly int _c, _s, _h;
    private readonly int[] _d, _offset;
    private readonly Rng _rng;
    private readonly List<StoredBatch> _store = [];
    private int _stored;
    private bool _pending;
    private int _epochs;
    private long _updates;

    // Parameters, row-major: W1 [H,S], WL/WF [K,H], bL/bF [K], mix logits [3] per head.
    internal readonly float[] W1, WL, WF, BL, BF, MixL, MixF;
    // Labels gate with back-off: wg [H] then bg (empty without back-off).
    internal readonly float[] Gate;
    // Forward scratch for one batch, grown when a larger batch arrives.
    private float[] _pre = [], _hid = [], _dPre = [], _aL = [], _aF = [], _c3 = [], _dL = [], _dF = [], _gate = [], _gateAdvantage = [];

    public PaperAgent(int k, int classes, IReadOnlyList<int> embeddingWidths, PaperAgentConfig config, ulong seed)
    {
        if (embeddingWidths.Count != k)
            throw new MtkdInputException($"strategy {CatalogName}: {embeddingWidths.Count} embedding widths for K={k} teachers");
        if (classes < 2) throw new MtkdInputException($"strategy {CatalogName}: class count must be at least 2 (got {classes})");
        if (config.Hidden < 1 || !(config.LearningRate > 0) || config.ReplayEveryBatches < 0 || config.MaxStoreBytes < 0)
            throw new MtkdInputException($"strategy {CatalogName}: hidden width, learning rate and replay interval must be positive");
        K = k;
        _config = config;
        _c = classes;
        _h = config.Hidden;
        _d = embeddingWidths.ToArray();
        _offset = new int[k + 1];
        for (int j = 0; j < k; j++) _offset[j + 1] = _offset[j] + _d[j];
        _s = 0;
        for (int j = 0; j < k; j++) _s += 3 + _d[j] + classes;
        _rng = new Rng(seed);
        W1 = Uniform(_h * _s, _s);
        WL = Uniform(k * _h, _h); BL = Uniform(k, _h);
        WF = Uniform(k * _h, _h); BF = Uniform(k, _h);
        MixL = [1f, 1f, 1f];
        MixF = [1f, 1f, 1f];
        Gate = config.BackOff ? new float[_h + 1] : [];
        if (config.BackOff)
        {
            if (!float.IsFinite(config.LabelsInitialLogit) || !(config.LabelsGateRate >= 0) || !float.IsFinite(config.LabelsGateRate))
                throw new MtkdInputException($"strategy {CatalogName}: the labels gate's starting logit and rate must be finite (rate >= 0)");
            Gate[_h] = LabelsGate.Bounded(config.LabelsInitialLogit - MathF.Log(k));
        }
    }

    public string Name => CatalogName;
    public int K { get; }
    public bool IsAgent => true;
    public bool UsesTeachers => true;
    public bool NeedsStats => true;
    public bool NeedsTeacherOutputs => true;
    public bool NeedsProbeLoss => false;
    public bool Dynamic => _config.Dynamic;
    public bool BackOff => _config.BackOff;

    /// <summary>State width S = sum_k (3 + D_k + C).</summary>
    public int StateWidth => _s;

    /// <summary>Epochs completed (the first one uses weight 1 everywhere).</summary>
    public int EpochsCompleted => _epochs;

    public int ParameterCount => W1.Length + WL.Length + WF.Length + BL.Length + BF.Length + (Dynamic ? 6 : 0) + Gate.Length;

    private float[] Uniform(int n, int fanIn)
    {
        float bound = 1f / MathF.Sqrt(fanIn);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (2f * _rng.NextSingle() - 1f) * bound;
        return a;
    }

    public void Weights(in WeightingContext context, Span<float> wl, Span<float> wf)
    {
        var stats = context.Stats;
        var shape = stats.Shape;
        int b = shape.B;
        StrategyChecks.Batch(Name, K, shape, wl, wf);
        StrategyChecks.Labels(Name, context.Labels, b);
        if (shape.C != _c || !shape.D.SequenceEqual(_d))
            throw new MtkdInputException($"strategy {Name}: built for C={_c} and D=[{string.Join(',', _d)}], batch has {shape}");
        if (context.TeacherEmbeddings.Length < context.EmbeddingRows * shape.F || context.TeacherLogits.Length < K * b * _c)
            throw new MtkdInputException($"strategy {Name}: teacher embeddings [B,F] and logits [K,B,C] are part of its state and must be given");

        var batch = NextSlot(b);
        BuildState(context, batch);
        int n = b * K;
        if (_epochs == 0)
        {
            float first = _config.UnitRows ? 1f / K : 1f;
            wl[..n].Fill(first);
            wf[..n].Fill(first);
            if (BackOff) HiddenLayer(batch);
        }
        else
        {
            Forward(batch, wl, wf);
        }
        if (BackOff) ApplyGate(b, wl, wf);
        wl[..n].CopyTo(batch.UsedWl);
        wf[..n].CopyTo(batch.UsedWf);
        _pending = true;
    }

    public AgentUpdateLog? Learn(in LearnFeedback feedback)
    {
        if (!_pending) throw new MtkdInputException($"strategy {Name}: feedback without weights for the batch");
        var batch = _store[_stored];
        if (feedback.Stats.Shape.B != batch.B || feedback.Stats.Shape.K != K)
            throw new MtkdInputException($"strategy {Name}: feedback is for B={feedback.Stats.Shape.B}, weights were for B={batch.B}");
        StrategyChecks.Labels(Name, feedback.Labels, batch.B);
        PaperReward.Compute(feedback.Stats, feedback.Labels, batch.UsedWl, batch.UsedWf, feedback.Beta, clamp: true, batch.Reward);
        if (BackOff) StepGate(feedback.Stats, feedback.Labels, batch);
        _pending = false;
        _stored++;
        bool everyN = _config.ReplayEveryBatches > 0 && _stored >= _config.ReplayEveryBatches;
        return everyN || StoreIsFull() ? Replay() : null;
    }

    public AgentUpdateLog? EndEpoch()
    {
        _pending = false;
        var log = _stored > 0 ? Replay() : null;
        _epochs++;
        return log;
    }

    /// <summary>Whether the stored states have reached <see cref="PaperAgentConfig.MaxStoreBytes"/>.</summary>
    private bool StoreIsFull()
    {
        if (_config.MaxStoreBytes == 0) return false;
        long bytes = 0;
        for (int i = 0; i < _stored; i++) bytes += (long)_store[i].State.Length * sizeof(float);
        return bytes >= _config.MaxStoreBytes;
    }

    /// <summary>One SGD step per stored batch, in the order they were stored; then the store is emptied.</summary>
    private PaperUpdateLog Replay()
    {
        var grads = new Gradients(this);
        double objective = 0, reward = 0;
        long rows = 0;
        for (int i = 0; i < _stored; i++)
        {
            var batch = _store[i];
            grads.Clear();
            objective += ObjectiveAndGradient(batch, grads);
            Step(grads);
            for (int r = 0; r < batch.B; r++) reward += batch.Reward[r];
            rows += batch.B;
        }
        int replayed = _stored;
        _stored = 0;
        _updates++;
        return new PaperUpdateLog(_updates, objective / replayed, replayed, reward / Math.Max(rows, 1), Mix(MixL), Mix(MixF));
    }

    private float[] Mix(float[] logits)
    {
        var m = new float[3];
        if (Dynamic) TeacherTerms.Softmax(logits, m);
        else m.AsSpan().Fill(1f / 3f);
        return m;
    }

    private void Step(Gradients g)
    {
        float lr = _config.LearningRate;
        TensorPrimitives.MultiplyAdd(g.W1, -lr, W1, W1);
        TensorPrimitives.MultiplyAdd(g.WL, -lr, WL, WL);
        TensorPrimitives.MultiplyAdd(g.WF, -lr, WF, WF);
        TensorPrimitives.MultiplyAdd(g.BL, -lr, BL, BL);
        TensorPrimitives.MultiplyAdd(g.BF, -lr, BF, BF);
        if (Dynamic)
        {
            TensorPrimitives.MultiplyAdd(g.MixL, -lr, MixL, MixL);
            TensorPrimitives.MultiplyAdd(g.MixF, -lr, MixF, MixF);
        }
    }

    private StoredBatch NextSlot(int b)
    {
        if (_stored == _store.Count) _store.Add(new StoredBatch(b, _s, K));
        else if (_store[_stored].B != b) _store[_stored] = new StoredBatch(b, _s, K);
        return _store[_stored];
    }

    private void BuildState(in WeightingContext context, StoredBatch batch)
    {
        var stats = context.Stats;
        int b = batch.B;
        var zt = context.TeacherLogits;
        for (int r = 0; r < b; r++)
        {
            var x = batch.State.AsSpan(r * _s, _s);
            var ft = context.TeacherEmbeddingOfRow(r);
            int at = 0;
            for (int k = 0; k < K; k++)
            {
                int i = r * K + k;
                x[at++] = stats.Cos[i];
                x[at++] = stats.Kl[i];
                x[at++] = stats.CeT[i];
                ft.Slice(_offset[k], _d[k]).CopyTo(x[at..]);
                at += _d[k];
                zt.Slice((k * b + r) * _c, _c).CopyTo(x[at..]);
                at += _c;
            }
        }
        int n = b * K;
        stats.CeT.AsSpan(0, n).CopyTo(batch.CeT);
        stats.Kl.AsSpan(0, n).CopyTo(batch.Kl);
        stats.Cos.AsSpan(0, n).CopyTo(batch.Cos);
    }

    private void EnsureScratch(int b)
    {
        if (_hid.Length >= b * _h) return;
        _pre = new float[b * _h]; _hid = new float[b * _h]; _dPre = new float[b * _h];
        _aL = new float[b * K]; _aF = new float[b * K];
        _c3 = new float[b * K]; _dL = new float[b * K]; _dF = new float[b * K];
        _gate = new float[b]; _gateAdvantage = new float[b];
    }

    /// <summary>Runs the network on a stored batch and writes the mixed weights; keeps activations in the scratch.</summary>
    private void Forward(StoredBatch batch, Span<float> wl, Span<float> wf)
    {
        int b = batch.B;
        HiddenLayer(batch);
        for (int r = 0; r < b; r++)
        {
            var h = _hid.AsSpan(r * _h, _h);
            Head(h, WL, BL, _aL.AsSpan(r * K, K));
            Head(h, WF, BF, _aF.AsSpan(r * K, K));
            TeacherTerms.Confidence(batch.CeT.AsSpan(r * K, K), _c3.AsSpan(r * K, K));
            TeacherTerms.Softmax(batch.Kl.AsSpan(r * K, K), _dL.AsSpan(r * K, K));
            TeacherTerms.Softmax(batch.Cos.AsSpan(r * K, K), _dF.AsSpan(r * K, K));
        }
        var mL = Mix(MixL);
        var mF = Mix(MixF);
        for (int i = 0; i < b * K; i++)
        {
            wl[i] = mL[0] * _aL[i] + mL[1] * _c3[i] + mL[2] * _dL[i];
            wf[i] = mF[0] * _aF[i] + mF[1] * _c3[i] + mF[2] * _dF[i];
        }
    }

    /// <summary>h = ReLU(W1 x) of a stored batch into the scratch.</summary>
    private void HiddenLayer(StoredBatch batch)
    {
        int b = batch.B;
        EnsureScratch(b);
        BlockedLinear.Forward(batch.State, b, _s, W1, _h, _pre);
        TensorPrimitives.Max(_pre.AsSpan(0, b * _h), 0f, _hid.AsSpan(0, b * _h));
    }

    /// <summary>g = sigmoid(wg . h + bg) per row (logit within +-12); the row's weights are scaled by 1 - g.</summary>
    private void ApplyGate(int b, Span<float> wl, Span<float> wf)
    {
        var wg = Gate.AsSpan(0, _h);
        for (int r = 0; r < b; r++)
        {
            float g = LabelsGate.Sigmoid(LabelsGate.Bounded(TensorPrimitives.Dot(_hid.AsSpan(r * _h, _h), wg) + Gate[_h]));
            _gate[r] = g;
            float keep = 1f - g;
            TensorPrimitives.Multiply(wl.Slice(r * K, K), keep, wl.Slice(r * K, K));
            TensorPrimitives.Multiply(wf.Slice(r * K, K), keep, wf.Slice(r * K, K));
        }
    }

    /// <summary>
    /// The gate's step after a batch (<see cref="PaperAgentConfig.LabelsGateRate"/>): bg by rate x mean A, wg by
    /// rate x mean((A_r - mean A) h_r) / (mean |h_r|^2 + 1), with A_r = min_k CEt - CEs over the counted rows.
    /// </summary>
    private void StepGate(DistillStats stats, ReadOnlySpan<int> labels, StoredBatch batch)
    {
        int b = batch.B;
        var advantage = _gateAdvantage.AsSpan(0, b);
        int n = LabelsGate.Advantages(stats, labels, b, K, advantage);
        if (n == 0) return;
        double mean = 0, norm = 0;
        for (int r = 0; r < b; r++) mean += advantage[r];
        mean /= n;
        var step = new float[_h];
        for (int r = 0; r < b; r++)
        {
            if (advantage[r] == 0) continue;
            var h = _hid.AsSpan(r * _h, _h);
            norm += TensorPrimitives.SumOfSquares(h);
            TensorPrimitives.MultiplyAdd(h, (float)(advantage[r] - mean), step, step);
        }
        float rate = _config.LabelsGateRate;
        TensorPrimitives.MultiplyAdd(step, (float)(rate / (n * (norm / n + 1))), Gate.AsSpan(0, _h), Gate.AsSpan(0, _h));
        Gate[_h] = LabelsGate.Bounded(Gate[_h] + (float)(rate * mean));
    }

    private void Head(ReadOnlySpan<float> h, float[] w, float[] bias, Span<float> a)
    {
        for (int k = 0; k < K; k++) a[k] = TensorPrimitives.Dot(h, w.AsSpan(k * _h, _h)) + bias[k];
        TeacherTerms.Softmax(a, a);
    }

    /// <summary>J of one stored batch under the current parameters, and its gradient added into <paramref name="g"/>.</summary>
    internal double ObjectiveAndGradient(StoredBatch batch, Gradients g)
    {
        int b = batch.B, n = b * K;
        var wl = new float[n];
        var wf = new float[n];
        Forward(batch, wl, wf);
        var mL = Mix(MixL);
        var mF = Mix(MixF);
        float scale = 1f / n;
        double objective = 0;
        Span<double> dmL = stackalloc double[3], dmF = stackalloc double[3];
        dmL.Clear(); dmF.Clear();
        var daL = new float[K];
        var daF = new float[K];
        var dh = new float[_h];
        for (int r = 0; r < b; r++)
        {
            float reward = batch.Reward[r];
            for (int k = 0; k < K; k++)
            {
                int i = r * K + k;
                float gl = LogGradient(wl[i], reward, scale, ref objective);
                float gf = LogGradient(wf[i], reward, scale, ref objective);
                daL[k] = mL[0] * gl;
                daF[k] = mF[0] * gf;
                dmL[0] += gl * _aL[i]; dmL[1] += gl * _c3[i]; dmL[2] += gl * _dL[i];
                dmF[0] += gf * _aF[i]; dmF[1] += gf * _c3[i]; dmF[2] += gf * _dF[i];
            }
            Array.Clear(dh);
            var h = _hid.AsSpan(r * _h, _h);
            HeadBackward(h, _aL.AsSpan(r * K, K), daL, WL, g.WL, g.BL, dh);
            HeadBackward(h, _aF.AsSpan(r * K, K), daF, WF, g.WF, g.BF, dh);
            var dPre = _dPre.AsSpan(r * _h, _h);
            for (int j = 0; j < _h; j++) dPre[j] = _pre[r * _h + j] > 0 ? dh[j] : 0f;
        }
        BlockedLinear.AccumulateWeightGradient(batch.State, b, _s, _dPre, _h, g.W1);
        if (Dynamic)
        {
            SoftmaxBackward(mL, dmL, g.MixL);
            SoftmaxBackward(mF, dmF, g.MixF);
        }
        return objective;
    }

    /// <summary>d/dw of -r log(w) / n, with the log floored at -100 (no gradient below the floor).</summary>
    private static float LogGradient(float w, float reward, float scale, ref double objective)
    {
        float log = MathF.Log(w);
        if (!(log > LogFloor))
        {
            objective += -reward * LogFloor * scale;
            return 0f;
        }
        objective += -reward * log * scale;
        return -reward * scale / w;
    }

    /// <summary>Through a = softmax(W h + b): dz_k = a_k (da_k - sum_j a_j da_j); adds dW, db and W^T dz into dh.</summary>
    private void HeadBackward(ReadOnlySpan<float> h, ReadOnlySpan<float> a, ReadOnlySpan<float> da, float[] w, float[] dw, float[] db, Span<float> dh)
    {
        float dot = 0;
        for (int k = 0; k < K; k++) dot += a[k] * da[k];
        for (int k = 0; k < K; k++)
        {
            float dz = a[k] * (da[k] - dot);
            if (dz == 0) continue;
            db[k] += dz;
            TensorPrimitives.MultiplyAdd(h, dz, dw.AsSpan(k * _h, _h), dw.AsSpan(k * _h, _h));
            TensorPrimitives.MultiplyAdd(w.AsSpan(k * _h, _h), dz, dh, dh);
        }
    }

    private static void SoftmaxBackward(float[] m, ReadOnlySpan<double> dm, float[] dlogits)
    {
        double dot = 0;
        for (int i = 0; i < 3; i++) dot += m[i] * dm[i];
        for (int i = 0; i < 3; i++) dlogits[i] += (float)(m[i] * (dm[i] - dot));
    }

    public StrategyState Export()
    {
        var s = new StrategyState(Name) { RngState = _rng.State };
        s.Arrays["w1"] = (float[])W1.Clone();
        s.Arrays["wl"] = (float[])WL.Clone(); s.Arrays["bl"] = (float[])BL.Clone();
        s.Arrays["wf"] = (float[])WF.Clone(); s.Arrays["bf"] = (float[])BF.Clone();
        s.Arrays["mix_l"] = (float[])MixL.Clone(); s.Arrays["mix_f"] = (float[])MixF.Clone();
        s.Scalars["epochs"] = _epochs;
        s.Scalars["updates"] = _updates;
        s.Scalars["state_width"] = _s;
        s.Scalars["dynamic"] = Dynamic ? 1 : 0;
        if (BackOff)
        {
            s.Arrays["labels_gate"] = (float[])Gate.Clone();
            s.Scalars["labels_gate"] = 1;
        }
        s.Scalars["stored"] = _stored;
        for (int i = 0; i < _stored; i++)
        {
            var batch = _store[i];
            s.Scalars[$"stored.{i}.rows"] = batch.B;
            foreach (var (name, data) in batch.Named()) s.Arrays[$"stored.{i}.{name}"] = (float[])data.Clone();
        }
        return s;
    }

    public void Import(StrategyState state)
    {
        state.CheckStrategy(Name);
        if ((int)state.Scalar("state_width") != _s || (state.Scalar("dynamic") != 0) != Dynamic)
            throw new MtkdInputException($"strategy {Name}: checkpoint is for another pool or mixing mode");
        bool savedGate = state.Scalars.TryGetValue("labels_gate", out double gate) && gate != 0;
        if (savedGate != BackOff)
            throw new MtkdInputException($"strategy {Name}: checkpoint was made {(savedGate ? "with" : "without")} the labels gate (--back-off; --no-back-off without), this run is {(BackOff ? "with" : "without")} it");
        if (BackOff) state.CopyTo("labels_gate", Gate);
        state.CopyTo("w1", W1);
        state.CopyTo("wl", WL); state.CopyTo("bl", BL);
        state.CopyTo("wf", WF); state.CopyTo("bf", BF);
        state.CopyTo("mix_l", MixL); state.CopyTo("mix_f", MixF);
        _epochs = (int)state.Scalar("epochs");
        _updates = (long)state.Scalar("updates");
        _stored = (int)state.Scalar("stored");
        _store.Clear();
        for (int i = 0; i < _stored; i++)
        {
            var batch = new StoredBatch((int)state.Scalar($"stored.{i}.rows"), _s, K);
            foreach (var (name, data) in batch.Named()) state.CopyTo($"stored.{i}.{name}", data);
            _store.Add(batch);
        }
        _pending = false;
        _rng.State = state.RestoreRng().State;
    }

    /// <summary>One batch kept for replay: the state, the fixed terms' inputs, the weights used and the reward.</summary>
    internal sealed class StoredBatch(int b, int s, int k)
    {
        public int B { get; } = b;
        public float[] State { get; } = new float[b * s];
        public float[] CeT { get; } = new float[b * k];
        public float[] Kl { get; } = new float[b * k];
        public float[] Cos { get; } = new float[b * k];
        public float[] UsedWl { get; } = new float[b * k];
        public float[] UsedWf { get; } = new float[b * k];
        public float[] Reward { get; } = new float[b];

        public IEnumerable<(string Name, float[] Data)> Named() =>
            [("state", State), ("ce_t", CeT), ("kl", Kl), ("cos", Cos), ("used_wl", UsedWl), ("used_wf", UsedWf), ("reward", Reward)];
    }

    /// <summary>Gradient buffers shaped like the parameters.</summary>
    internal sealed class Gradients(PaperAgent agent)
    {
        public float[] W1 { get; } = new float[agent.W1.Length];
        public float[] WL { get; } = new float[agent.WL.Length];
        public float[] WF { get; } = new float[agent.WF.Length];
        public float[] BL { get; } = new float[agent.K];
        public float[] BF { get; } = new float[agent.K];
        public float[] MixL { get; } = new float[3];
        public float[] MixF { get; } = new float[3];

        public void Clear()
        {
            foreach (var a in new[] { W1, WL, WF, BL, BF, MixL, MixF }) Array.Clear(a);
        }
    }

    /// <summary>Logit- and feature-head outputs a_L, a_F [B,K] of the last network run (tests inspect them).</summary>
    internal (float[] LogitHead, float[] FeatureHead) LastHeads(int b) => (_aL[..(b * K)], _aF[..(b * K)]);

    /// <summary>The labels gate's share g of each row of the last batch (tests inspect it).</summary>
    internal float[] LastGate(int b) => _gate[..b];

    /// <summary>The batch stored last (tests inspect it).</summary>
    internal StoredBatch LastStored => _store[Math.Max(_stored - 1, 0)];
    internal int StoredCount => _stored;
}
