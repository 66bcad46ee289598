using System.Numerics;

namespace MtkdRl.Training;

/// <summary>
/// Stochastic gradient descent as PyTorch defines it (no dampening):
///   g = grad + wd w                  (only for parameters with Decay)
///   buf = momentum buf + g           (buf starts at 0, so the first step's buf is g)
///   g = nesterov ? g + momentum buf : buf
///   w = w - lr g
/// With momentum 0 it is plain SGD. State: one "momentum_buffer" per parameter.
/// </summary>
public sealed class Sgd : Optimizer
{
    private readonly float[][] _buffers;

    public Sgd(IEnumerable<Parameter> parameters, double learningRate, double momentum = 0, bool nesterov = false,
        double weightDecay = 0)
        : base(parameters, learningRate, weightDecay)
    {
        CheckHyper(Kind, "momentum", momentum, 0, 1);
        if (nesterov && momentum == 0) throw new Core.MtkdInputException($"{Kind}: Nesterov needs a momentum above 0");
        Momentum = momentum;
        Nesterov = nesterov;
        _buffers = Parameters.Select(p => momentum > 0 ? new float[p.Size] : []).ToArray();
    }

    public override string Kind => "sgd";
    public double Momentum { get; }
    public bool Nesterov { get; }

    protected override IReadOnlyList<string> BufferNames => Momentum > 0 ? ["momentum_buffer"] : [];

    protected override float[] Buffer(int index, string suffix) => _buffers[index];

    protected override IEnumerable<KeyValuePair<string, double>> Hyperparameters =>
    [
        new("momentum", Momentum),
        new("nesterov", Nesterov ? 1 : 0),
    ];

    protected override void Update(int index, Parameter parameter)
    {
        var w = parameter.Value.AsSpan();
        var grad = parameter.Grad.AsSpan();
        var buf = _buffers[index].AsSpan();
        float lr = (float)LearningRate, wd = parameter.Decay ? (float)WeightDecay : 0f, mu = (float)Momentum;
        int n = w.Length, i = 0, width = Vector<float>.Count;
        if (mu == 0)
        {
            for (; i <= n - width; i += width)
            {
                var wv = new Vector<float>(w[i..]);
                (wv - lr * (new Vector<float>(grad[i..]) + wd * wv)).CopyTo(w[i..]);
            }
            for (; i < n; i++) w[i] -= lr * (grad[i] + wd * w[i]);
            return;
        }
        for (; i <= n - width; i += width)
        {
            var wv = new Vector<float>(w[i..]);
            var g = new Vector<float>(grad[i..]) + wd * wv;
            var b = mu * new Vector<float>(buf[i..]) + g;
            b.CopyTo(buf[i..]);
            (wv - lr * (Nesterov ? g + mu * b : b)).CopyTo(w[i..]);
        }
        for (; i < n; i++)
        {
            float g = grad[i] + wd * w[i];
            float b = mu * buf[i] + g;
            buf[i] = b;
            w[i] -= lr * (Nesterov ? g + mu * b : b);
        }
    }
}
