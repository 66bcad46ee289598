using MtkdRl.Core;
using MtkdRl.Training;

namespace MtkdRl.Tests.Training;

/// <summary>Optimiser steps against values worked out by hand (w = 1, lr = 0.1 unless stated), and state export/import.</summary>
public class OptimizerTests
{
    /// <summary>A weight (decayed) and a bias (not), both starting at 1, with lengths that leave SIMD tails.</summary>
    private static (Parameter Weight, Parameter Bias) Pair(int size = 19)
    {
        var w = new Parameter("w", [size], decay: true);
        var b = new Parameter("b", [size], decay: false);
        w.Value.AsSpan().Fill(1f);
        b.Value.AsSpan().Fill(1f);
        return (w, b);
    }

    private static void SetGrad(float g, params Parameter[] ps)
    {
        foreach (var p in ps) p.Grad.AsSpan().Fill(g);
    }

    private static void AssertAll(double expected, Parameter p, double tolerance = 1e-6) =>
        Assert.All(p.Value, v => Assert.Equal(expected, v, tolerance));

    [Fact]
    public void Plain_sgd_and_weight_decay_only_on_weights()
    {
        var (w, b) = Pair();
        var sgd = new Sgd([w, b], 0.1, weightDecay: 0.1);
        SetGrad(0.5f, w, b);
        sgd.Step();
        AssertAll(1 - 0.1 * (0.5 + 0.1 * 1), w); // 0.94
        AssertAll(1 - 0.1 * 0.5, b);             // 0.95
    }

    [Fact]
    public void Sgd_momentum()
    {
        var (w, _) = Pair();
        var sgd = new Sgd([w], 0.1, momentum: 0.9);
        SetGrad(0.5f, w);
        sgd.Step();              // buf = 0.5, w = 1 - 0.05
        AssertAll(0.95, w);
        sgd.Step();              // buf = 0.9*0.5 + 0.5 = 0.95, w = 0.95 - 0.095
        AssertAll(0.855, w);
        SetGrad(-1f, w);
        sgd.Step();              // buf = 0.855 - 1 = -0.145, w = 0.855 + 0.0145
        AssertAll(0.8695, w);
    }

    [Fact]
    public void Sgd_nesterov_with_weight_decay()
    {
        var (w, b) = Pair();
        var sgd = new Sgd([w, b], 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.1);
        SetGrad(0.5f, w, b);
        sgd.Step();
        // bias: g = 0.5, buf = 0.5, step = g + 0.9 buf = 0.95 -> 0.905
        AssertAll(0.905, b);
        // weight: g = 0.5 + 0.1 = 0.6, buf = 0.6, step = 0.6 + 0.54 = 1.14 -> 0.886
        AssertAll(0.886, w);
        sgd.Step();
        // bias: g = 0.5, buf = 0.45 + 0.5 = 0.95, step = 0.5 + 0.855 = 1.355 -> 0.7695
        AssertAll(0.7695, b);
        // weight: g = 0.5 + 0.0886 = 0.5886, buf = 0.54 + 0.5886 = 1.1286, step = 0.5886 + 1.01574 = 1.60434 -> 0.725566
        AssertAll(0.725566, w);
    }

    [Fact]
    public void Adam_first_steps_with_bias_correction()
    {
        var (w, _) = Pair();
        var adam = new Adam([w], 0.1);
        // t=1: m = 0.05, v = 0.00025; m^ = 0.5, v^ = 0.25; step = 0.1 * 0.5 / (0.5 + 1e-8)
        SetGrad(0.5f, w);
        adam.Step();
        AssertAll(0.900000002, w);
        // t=2, g = 0.25: m = 0.07, v = 0.00031225; m^ = 0.07/0.19, v^ = 0.00031225/0.001999
        SetGrad(0.25f, w);
        adam.Step();
        AssertAll(0.8067820405, w);
        SetGrad(-0.5f, w);
        adam.Step();
        AssertAll(0.7957037336, w);
        Assert.Equal(3, adam.StepCount);
    }

    [Fact]
    public void Adam_weight_decay_as_l2_or_decoupled()
    {
        var (w1, b1) = Pair();
        var l2 = new Adam([w1, b1], 0.1, weightDecay: 0.1, decay: AdamDecay.L2);
        var (w2, b2) = Pair();
        var decoupled = new Adam([w2, b2], 0.1, weightDecay: 0.1, decay: AdamDecay.Decoupled);
        SetGrad(0.5f, w1, b1, w2, b2);
        l2.Step();
        decoupled.Step();
        // L2 folds into the gradient, which Adam's first step normalises away (|step| = lr);
        // decoupled shrinks the weight by lr*wd first: 1 * (1 - 0.01) - 0.1.
        AssertAll(0.9000000017, w1);
        AssertAll(0.890000002, w2);
        AssertAll(0.900000002, b1);
        AssertAll(0.900000002, b2);
        SetGrad(0.25f, w1, w2);
        l2.Step();
        decoupled.Step();
        AssertAll(0.8050097659, w1);
        AssertAll(0.7878820405, w2);
    }

    [Theory]
    [InlineData("sgd")]
    [InlineData("adam")]
    public void Exported_state_resumes_exactly(string kind)
    {
        Optimizer Make(Parameter[] ps) => kind == "sgd"
            ? new Sgd(ps, 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3)
            : new Adam(ps, 0.01, weightDecay: 1e-3, decay: AdamDecay.Decoupled);
        var rng = new Random(5);
        var (w, b) = Pair(37);
        var a = Make([w, b]);
        void Grads(Parameter[] ps, int step)
        {
            var r = new Random(100 + step);
            foreach (var p in ps) for (int i = 0; i < p.Size; i++) p.Grad[i] = (float)(r.NextDouble() - 0.5);
        }
        for (int s = 0; s < 3; s++)
        {
            Grads([w, b], s);
            a.Step();
        }
        var state = a.ExportState();
        Assert.Equal(kind, state.Kind);
        Assert.Equal(3, state.Scalars["step"]);
        Assert.All(state.Tensors, t => Assert.Equal([37], t.Shape));
        Assert.Contains(state.Tensors, t => t.Name == (kind == "sgd" ? "w.momentum_buffer" : "w.exp_avg_sq"));

        var (w2, b2) = Pair(37);
        w.Value.CopyTo(w2.Value, 0);
        b.Value.CopyTo(b2.Value, 0);
        var resumed = Make([w2, b2]);
        resumed.ImportState(state);
        Assert.Equal(3, resumed.StepCount);
        for (int s = 3; s < 5; s++)
        {
            Grads([w, b], s);
            Grads([w2, b2], s);
            a.Step();
            resumed.Step();
        }
        Assert.Equal(w.Value, w2.Value);
        Assert.Equal(b.Value, b2.Value);
        // The export is a copy: later steps do not change it.
        Assert.Equal(3, state.Scalars["step"]);
    }

    [Fact]
    public void Bad_state_is_refused_and_leaves_the_optimiser_unchanged()
    {
        var (w, b) = Pair(4);
        var sgd = new Sgd([w, b], 0.1, momentum: 0.9);
        SetGrad(1f, w, b);
        sgd.Step();
        var good = sgd.ExportState();
        var before = sgd.ExportState().Tensors.Select(t => t.Value.ToArray()).ToList();

        var adam = new Adam([w, b]);
        Assert.Contains("for 'sgd', not 'adam'", Assert.Throws<MtkdInputException>(() => adam.ImportState(good)).Message);

        var missing = new OptimizerState("sgd", [good.Tensors[0]], good.Scalars);
        Assert.Contains("'b.momentum_buffer' is missing", Assert.Throws<MtkdInputException>(() => sgd.ImportState(missing)).Message);

        var wrongShape = new NamedTensor("b.momentum_buffer", [2, 2]);
        wrongShape.Value.AsSpan().Fill(9f);
        var shaped = new OptimizerState("sgd", [good.Tensors[0], wrongShape], good.Scalars);
        Assert.Contains("shape [2,2]", Assert.Throws<MtkdInputException>(() => sgd.ImportState(shaped)).Message);

        var extra = new OptimizerState("sgd", [.. good.Tensors, new NamedTensor("z.momentum_buffer", [4])], good.Scalars);
        Assert.Contains("'z.momentum_buffer' matches no parameter", Assert.Throws<MtkdInputException>(() => sgd.ImportState(extra)).Message);

        var noStep = new OptimizerState("sgd", good.Tensors, new Dictionary<string, double> { ["step"] = -1 });
        Assert.Throws<MtkdInputException>(() => sgd.ImportState(noStep));

        Assert.Equal(before, sgd.ExportState().Tensors.Select(t => t.Value.ToArray()).ToList());
        Assert.Equal(1, sgd.StepCount);
    }

    [Fact]
    public void Bad_hyperparameters_are_refused()
    {
        var (w, b) = Pair(2);
        Assert.Throws<MtkdInputException>(() => new Sgd([w], -0.1));
        Assert.Throws<MtkdInputException>(() => new Sgd([w], 0.1, momentum: 1.0));
        Assert.Throws<MtkdInputException>(() => new Sgd([w], 0.1, nesterov: true));
        Assert.Throws<MtkdInputException>(() => new Sgd([w], 0.1, weightDecay: double.NaN));
        Assert.Throws<MtkdInputException>(() => new Adam([w], beta1: 1.0));
        Assert.Throws<MtkdInputException>(() => new Adam([w], epsilon: 0));
        Assert.Throws<MtkdInputException>(() => new Adam([]));
        Assert.Throws<MtkdInputException>(() => new Adam([w, w]));
        var sgd = new Sgd([w, b], 0.1);
        Assert.Throws<MtkdInputException>(() => sgd.LearningRate = double.PositiveInfinity);
    }
}
