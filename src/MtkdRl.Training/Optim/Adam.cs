using System.Numerics;

namespace MtkdRl.Training;

/// <summary>How Adam applies weight decay.</summary>
public enum AdamDecay
{
    /// <summary>L2 penalty added to the gradient before the moments (PyTorch's Adam weight_decay): g = grad + wd w.</summary>
    L2,

    /// <summary>Decoupled (AdamW, Loshchilov &amp; Hutter): w = w - lr wd w, outside the adaptive step.</summary>
    Decoupled,
}

/// <summary>
/// Adam (Kingma &amp; Ba) with bias correction, step t counted from 1:
///   g = grad [+ wd w for L2]
///   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
///   [w = w - lr wd w for Decoupled]
///   w = w - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
/// Weight decay only for parameters with Decay. State: "exp_avg" (m) and "exp_avg_sq" (v) per parameter
/// and the step count, as PyTorch names them.
/// </summary>
public sealed class Adam : Optimizer
{
    private readonly float[][] _m, _v;

    public Adam(IEnumerable<Parameter> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double epsilon = 1e-8, double weightDecay = 0, AdamDecay decay = AdamDecay.L2)
        : base(parameters, learningRate, weightDecay)
    {
        CheckHyper(Kind, "beta1", beta1, 0, 1);
        CheckHyper(Kind, "beta2", beta2, 0, 1);
        if (!(epsilon > 0)) throw new Core.MtkdInputException($"{Kind}: epsilon must be positive (got {epsilon})");
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        Decay = decay;
        _m = Parameters.Select(p => new float[p.Size]).ToArray();
        _v = Parameters.Select(p => new float[p.Size]).ToArray();
    }

    public override string Kind => "adam";
    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Epsilon { get; }
    public AdamDecay Decay { get; }

    protected override IReadOnlyList<string> BufferNames => ["exp_avg", "exp_avg_sq"];

    protected override float[] Buffer(int index, string suffix) => suffix == "exp_avg" ? _m[index] : _v[index];

    protected override IEnumerable<KeyValuePair<string, double>> Hyperparameters =>
    [
        new("beta1", Beta1),
        new("beta2", Beta2),
        new("epsilon", Epsilon),
        new("decoupled_weight_decay", Decay == AdamDecay.Decoupled ? 1 : 0),
    ];

    protected override void Update(int index, Parameter parameter)
    {
        var w = parameter.Value.AsSpan();
        var grad = parameter.Grad.AsSpan();
        var m = _m[index].AsSpan();
        var v = _v[index].AsSpan();
        double t = StepCount;
        // 1 - beta in double first: 1 - 0.999f would carry 0.999f's rounding error, 1.3e-5 of the result.
        float b1 = (float)Beta1, b2 = (float)Beta2, c1 = (float)(1 - Beta1), c2 = (float)(1 - Beta2), eps = (float)Epsilon;
        float stepSize = (float)(LearningRate / (1 - Math.Pow(Beta1, t)));
        float invRootCorrection2 = (float)(1 / Math.Sqrt(1 - Math.Pow(Beta2, t)));
        float wd = parameter.Decay ? (float)WeightDecay : 0f;
        float l2 = Decay == AdamDecay.L2 ? wd : 0f;
        float shrink = Decay == AdamDecay.Decoupled ? (float)(1 - LearningRate * wd) : 1f;
        int n = w.Length, i = 0, width = Vector<float>.Count;
        for (; i <= n - width; i += width)
        {
            var wv = new Vector<float>(w[i..]);
            var g = new Vector<float>(grad[i..]) + l2 * wv;
            var mv = b1 * new Vector<float>(m[i..]) + c1 * g;
            var vv = b2 * new Vector<float>(v[i..]) + c2 * g * g;
            mv.CopyTo(m[i..]);
            vv.CopyTo(v[i..]);
            var denom = Vector.SquareRoot(vv) * invRootCorrection2 + new Vector<float>(eps);
            (wv * shrink - stepSize * mv / denom).CopyTo(w[i..]);
        }
        for (; i < n; i++)
        {
            float g = grad[i] + l2 * w[i];
            m[i] = b1 * m[i] + c1 * g;
            v[i] = b2 * v[i] + c2 * g * g;
            float denom = MathF.Sqrt(v[i]) * invRootCorrection2 + eps;
            w[i] = w[i] * shrink - stepSize * m[i] / denom;
        }
    }
}
