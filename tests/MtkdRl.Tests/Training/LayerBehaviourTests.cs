using MtkdRl.Core;
using MtkdRl.Tests.Support;
using MtkdRl.Training;

namespace MtkdRl.Tests.Training;

/// <summary>What gradient checks cannot show: ties, NaN, running statistics, dropout masks, batch sizes that change, misuse.</summary>
public class LayerBehaviourTests
{
    private static CpuCompute Compute => TrainingTestCompute.Shared;

    [Fact]
    public void MaxPool_sends_a_tied_window_gradient_to_its_first_maximum()
    {
        var pool = new MaxPool2d("pool", SampleShape.Image(1, 2, 4), 2, Compute);
        // Window 0: all equal; window 1: the max appears at positions 1 and 2 (row-major within the window).
        float[] x = [5, 5, 1, 7, 5, 5, 7, 0];
        var y = pool.Forward(x, 1, true);
        Assert.Equal([5f, 7f], y.Take(2));
        var dx = pool.Backward([10f, 20f])!;
        Assert.Equal([10f, 0f, 0f, 20f, 0f, 0f, 0f, 0f], dx.Take(8));
    }

    [Fact]
    public void MaxPool_general_windows_break_ties_the_same_way()
    {
        var pool = new MaxPool2d("pool", SampleShape.Image(1, 2, 3), 2, Compute, stride: 1);
        var y = pool.Forward([5f, 5f, 5f, 5f, 5f, 5f], 1, true);
        Assert.Equal([5f, 5f], y.Take(2));
        Assert.Equal([1f, 2f, 0f, 0f, 0f, 0f], pool.Backward([1f, 2f])!.Take(6));
        var wide = new MaxPool2d("pool", SampleShape.Image(1, 3, 3), 3, Compute);
        Assert.True(float.IsNaN(wide.Forward([1f, 2f, 3f, 4f, float.NaN, 9f, 7f, 8f, 9f], 1, true)[0]));
    }

    [Fact]
    public void MaxPool_overlapping_windows_add_their_gradients()
    {
        var pool = new MaxPool2d("pool", SampleShape.Image(1, 1, 5), 1, Compute);
        Assert.Equal(5, pool.OutputShape.Width);
        var wide = new MaxPool2d("pool", SampleShape.Image(1, 3, 3), 2, Compute, stride: 1);
        float[] x = [0, 0, 0, 0, 9, 0, 0, 0, 0];
        var y = wide.Forward(x, 1, true);
        Assert.All(y.Take(4), v => Assert.Equal(9f, v));
        var dx = wide.Backward([1f, 2f, 3f, 4f])!;
        Assert.Equal(10f, dx[4]);
        Assert.Equal(10f, dx.Take(9).Sum());
    }

    [Fact]
    public void MaxPool_propagates_nan()
    {
        var pool = new MaxPool2d("pool", SampleShape.Image(1, 2, 2), 2, Compute);
        var y = pool.Forward([1f, float.NaN, 3f, 2f], 1, true);
        Assert.True(float.IsNaN(y[0]));
    }

    [Fact]
    public void BatchNorm_updates_running_statistics_with_the_unbiased_variance()
    {
        var bn = new BatchNorm("bn", SampleShape.Vector(2), Compute, momentum: 0.1);
        // Feature 0: 1, 2, 3, 6 (mean 3, biased var 3.5, unbiased 14/3); feature 1: constant 4.
        float[] x = [1, 4, 2, 4, 3, 4, 6, 4];
        bn.Forward(x, 4, training: true);
        Assert.Equal(0.3f, bn.RunningMean.Value[0], 6);
        Assert.Equal(0.4f, bn.RunningMean.Value[1], 6);
        Assert.Equal(0.9f + 0.1f * 14f / 3f, bn.RunningVar.Value[0], 6);
        Assert.Equal(0.9f, bn.RunningVar.Value[1], 6);
        // Eval mode leaves them alone.
        bn.Forward(x, 4, training: false);
        Assert.Equal(0.3f, bn.RunningMean.Value[0], 6);
    }

    [Fact]
    public void Dropout_masks_scale_survivors_and_repeat_from_a_saved_state()
    {
        var dropout = new Dropout("drop", SampleShape.Vector(1000), 0.3, new Rng((ulong)TestSeeds.Next()));
        var x = Enumerable.Range(1, 2000).Select(i => (float)i).ToArray();
        var saved = dropout.Rng.State;
        var y = dropout.Forward(x, 2, training: true).Take(2000).ToArray();
        int dropped = y.Count(v => v == 0);
        Assert.InRange(dropped, 2000 * 0.3 - 120, 2000 * 0.3 + 120); // about 5 standard deviations
        for (int i = 0; i < 2000; i++)
            if (y[i] != 0) Assert.InRange(y[i] / (x[i] / 0.7), 1 - 1e-6, 1 + 1e-6);
        var dx = dropout.Backward(Enumerable.Repeat(1f, 2000).ToArray())!;
        for (int i = 0; i < 2000; i++) Assert.Equal(y[i] == 0 ? 0f : 1f / 0.7f, dx[i], 5);

        // The same generator state gives the same mask; the next draw a different one.
        dropout.Rng.State = saved;
        Assert.Equal(y, dropout.Forward(x, 2, training: true).Take(2000));
        Assert.NotEqual(y, dropout.Forward(x, 2, training: true).Take(2000));
        Assert.Equal("drop.rng", Assert.Single(dropout.RandomStreams).Name);

        // Eval is the identity.
        Assert.Equal(x, dropout.Forward(x, 2, training: false).Take(2000));
    }

    [Fact]
    public void A_smaller_then_larger_batch_gives_the_same_rows()
    {
        var rng = new Random(TestSeeds.Next());
        var conv = new Conv2d("conv", SampleShape.Image(2, 5, 5), 3, 3, Compute, padding: 1);
        foreach (var p in conv.Parameters) for (int i = 0; i < p.Size; i++) p.Value[i] = (float)rng.NextDouble();
        var x = GradientCheck.Random(rng, 6 * 50);
        var full = conv.Forward(x, 6, true).Take(6 * 75).ToArray();
        var part = conv.Forward(x, 2, true).Take(2 * 75).ToArray();
        Assert.Equal(full.Take(2 * 75), part);
        var dW2 = (float[])conv.Weight.Grad.Clone();
        conv.Backward(GradientCheck.Random(rng, 2 * 75));
        Assert.NotEqual(dW2, conv.Weight.Grad);
        var bigger = new float[9 * 50];
        x.CopyTo(bigger, 0);
        Assert.Equal(full, conv.Forward(bigger, 9, true).Take(6 * 75));
    }

    [Fact]
    public void Backward_overwrites_parameter_gradients_and_can_skip_the_input_gradient()
    {
        var fc = new Linear("fc", SampleShape.Vector(3), 2, Compute);
        fc.Weight.Value.AsSpan().Fill(1f);
        fc.Forward([1f, 2f, 3f], 1, true);
        Assert.Null(fc.Backward([1f, -1f], inputGradient: false));
        fc.Backward([1f, -1f], inputGradient: false);
        Assert.Equal([1f, 2f, 3f, -1f, -2f, -3f], fc.Weight.Grad);
        Assert.Equal([1f, -1f], fc.Bias!.Grad);
    }

    [Fact]
    public void Misuse_is_refused_with_the_layer_named()
    {
        var fc = new Linear("fc7", SampleShape.Vector(3), 2, Compute);
        Assert.Throws<InvalidOperationException>(() => fc.Backward([1f, 1f]));
        var e = Assert.Throws<MtkdInputException>(() => fc.Forward(new float[5], 2, true));
        Assert.Contains("fc7", e.Message);
        Assert.Throws<MtkdInputException>(() => fc.Forward(new float[3], 0, true));
        Assert.Throws<MtkdInputException>(() => new Conv2d("c", SampleShape.Image(1, 2, 2), 1, 3, Compute));
        Assert.Throws<MtkdInputException>(() => new MaxPool2d("p", SampleShape.Image(1, 4, 4), 2, Compute, padding: 2));
        Assert.Throws<MtkdInputException>(() => new Dropout("d", SampleShape.Vector(2), 1.0, new Rng(1)));
        Assert.Throws<MtkdInputException>(() => SampleShape.Parse("1x0x3"));
        Assert.Equal(SampleShape.Image(1, 28, 28), SampleShape.Parse("1x28x28"));
    }

    [Fact]
    public void Initializers_have_the_stated_spread()
    {
        var rng = new Rng((ulong)TestSeeds.Next());
        var w = new float[20000];
        Initializers.KaimingNormal(w, 50, rng);
        double var = w.Select(v => (double)v * v).Average();
        Assert.InRange(var, 2.0 / 50 * 0.95, 2.0 / 50 * 1.05);
        Initializers.XavierUniform(w, 30, 20, rng);
        double bound = Math.Sqrt(6.0 / 50);
        Assert.All(w, v => Assert.InRange(v, -bound, bound));
        Assert.InRange(w.Max(), bound * 0.99, bound);
    }
}
